// `cairn run list|show|log|watch|cancel`: job executions (backups, restores, …) as the server
// keeps them, their log, and a live watch until one ends.
import { CairnError } from '../../core/errors.ts';
import { RUN_STATUSES, type RunJson } from '../../protocol/api-types.ts';
import { withQuery } from '../api-client.ts';
import type { Command } from '../command.ts';
import { printJson } from '../output.ts';
import { formatBytes, printable } from '../progress.ts';
import { followRunLog, type LogLine } from '../log-follow.ts';
import { printEndedRun, runDetails, runSummary, totalForDisplay, waitForRun } from '../run-output.ts';
import { bool, JSON_HELP, JSON_OPTION, oneOf, printList, str, wholeNumber, withClient } from './shared.ts';

/** A run id from the command line: a positive whole number. */
export function runId(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < 1)
    throw new CairnError('E_USAGE', `not a run id: ${text}`);
  return Number(text);
}

const list: Command = {
  name: 'run list',
  summary: 'list runs, newest first (--job J, --status S, --limit N)',
  usage: '[--job J] [--status S] [--limit N] [--json]',
  example: 'run list --job home --status failed --limit 10',
  help: {
    ...JSON_HELP,
    job: "only this job's runs",
    status: `only runs with this status: ${RUN_STATUSES.join(', ')}`,
    limit: 'at most N runs (default 100, at most 1000)',
  },
  options: { job: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const limit = str(values, 'limit');
    const status = str(values, 'status');
    const path = withQuery('/api/runs', {
      job: str(values, 'job'),
      status: status === undefined ? undefined : oneOf(status, RUN_STATUSES, 'status'),
      limit: limit === undefined ? undefined : wholeNumber(limit, 'limit', 1),
    });
    const runs = await withClient((c) => c.get<RunJson[]>(path));
    printList(runs, bool(values, 'json'), (r) => ({
      id: r.id,
      job: r.job,
      kind: r.kind,
      level: r.level,
      status: r.status,
      started: r.startedAt ?? r.queuedAt,
      ended: r.endedAt,
      files: r.files,
      bytes: formatBytes(r.bytes),
    }));
    return 0;
  },
};

const show: Command = {
  name: 'run show',
  summary: 'show one run (live counters while it runs)',
  usage: 'ID [--json]',
  example: 'run show 42',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const run = await withClient((c) => c.get<RunJson>(`/api/runs/${runId(positionals[0]!)}`));
    if (bool(values, 'json')) printJson(run);
    else process.stdout.write(`${runDetails(run).join('\n')}\n`);
    return 0;
  },
};

const log: Command = {
  name: 'run log',
  summary: "show a run's log (--follow: new lines as they come, until the run ends)",
  usage: 'ID [--follow] [--json]',
  example: 'run log 42 --follow',
  help: { ...JSON_HELP, follow: 'keep printing lines as they are added until the run ends, on the event stream (with --json: the whole log once it ends)' },
  options: { follow: { type: 'boolean' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const id = runId(positionals[0]!);
    const json = bool(values, 'json');
    const text = (l: LogLine) => `${l.time} ${l.part && l.part !== 'server' ? `[${l.part}] ` : ''}${printable(l.message)}`;
    if (!bool(values, 'follow')) {
      const lines = await withClient((c) => c.get<LogLine[]>(`/api/runs/${id}/log`));
      if (json) printJson(lines);
      else if (lines.length > 0) process.stdout.write(`${lines.map(text).join('\n')}\n`);
      return 0;
    }
    // --json keeps the lines for the one document at the end; text prints each as it comes
    const kept: LogLine[] = [];
    await withClient((c) => followRunLog(c, id, (l) => (json ? kept.push(l) : process.stdout.write(`${text(l)}\n`))));
    if (json) printJson(kept);
    return 0;
  },
};

const watch: Command = {
  name: 'run watch',
  summary: 'follow a run until it ends (exit 1 unless it succeeded)',
  usage: 'ID [--json]',
  example: 'run watch 42',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const id = runId(positionals[0]!);
    return withClient(async (c) => {
      const first = await c.get<RunJson>(`/api/runs/${id}`);
      const ended = await waitForRun(c, id, { totalBytes: await totalForDisplay(c, first) });
      return printEndedRun(ended, bool(values, 'json'));
    });
  },
};

const cancel: Command = {
  name: 'run cancel',
  summary: 'cancel a queued or running run',
  usage: 'ID [--json]',
  example: 'run cancel 42',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const run = await withClient((c) => c.post<RunJson>(`/api/runs/${runId(positionals[0]!)}/cancel`));
    if (bool(values, 'json')) printJson(run);
    else process.stdout.write(`${run.status === 'canceled' ? runSummary(run) : `run ${run.id}: cancel requested`}\n`);
    return 0;
  },
};

export const runCommands: Command[] = [list, show, log, watch, cancel];

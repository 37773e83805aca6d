// `cairn status`: one screen of what the system is doing: runs running and queued, every part's
// network status, the storage servers, and the runs that failed in the last 24 hours.
import type { RunJson, StatusJson } from '../../protocol/api-types.ts';
import type { Command } from '../command.ts';
import { printJson, printTable } from '../output.ts';
import { printable } from '../progress.ts';
import { partRow } from './parts.ts';
import { bool, JSON_HELP, JSON_OPTION, withClient } from './shared.ts';

function section(title: string, rows: Record<string, unknown>[]): void {
  process.stdout.write(`\n${title}\n`);
  printTable(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null || v === undefined || v === '' ? '-' : printable(String(v))]))));
}

function runCells(r: RunJson, extra: Record<string, unknown>): Record<string, unknown> {
  return { id: r.id, job: r.job, kind: r.kind, agent: r.agent, storage: r.storage, ...extra };
}

const status: Command = {
  name: 'status',
  summary: 'one screen: running and queued runs, agents and storage servers, failures of the last 24 h',
  usage: '[--json]',
  example: 'status',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const s = await withClient((c) => c.get<StatusJson>('/api/status'));
    if (bool(values, 'json')) {
      printJson(s);
      return 0;
    }
    section(`RUNNING (${s.running.length})`, s.running.map((r) => runCells(r, { started: r.startedAt })));
    section(`QUEUED (${s.queued.length})`, s.queued.map((r) => runCells(r, { queued: r.queuedAt, reason: r.reason })));
    section('PARTS', s.parts.map((p) => ({ kind: p.kind, name: p.name, status: p.status, since: p.since, lastSeen: p.lastSeen, rttMs: p.rttMs, p99: p.rttP99Ms })));
    section('STORAGE', s.storage.map((p) => partRow(p)));
    section(`FAILED IN THE LAST 24 H (${s.failures.length})`, s.failures.map((r) => runCells(r, { ended: r.endedAt, error: r.error })));
    return 0;
  },
};

export const statusCommands: Command[] = [status];

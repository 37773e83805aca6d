// `cairn forget --job J [--keep-… N] [--dry-run] [--json]` and `cairn snapshot forget ID`:
// snapshots let go by a job's retention policy (its own unless --keep-… is given), or one by id.
// Both return once the storage server deleted the records; with it offline they report the
// snapshots `forgetting` (finished when it is back) and exit 0.
import { CairnError } from '../../core/errors.ts';
import type { JobJson } from '../../protocol/api-types.ts';
import { seg } from '../api-client.ts';
import { type Command, requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { KEEP_OPTIONS, RETENTION_HELP, retentionOf } from './job-flags.ts';
import { bool, JSON_HELP, JSON_OPTION, snapshotArg, withClient } from './shared.ts';

type ForgetJson = { kept?: string[]; forgotten: string[]; forgetting: string[] };

function printForget(answer: ForgetJson, json: boolean, dryRun: boolean): void {
  if (json) return printJson(answer);
  for (const id of answer.forgotten) process.stdout.write(`${dryRun ? 'would forget' : 'forgot'} ${id}\n`);
  for (const id of answer.forgetting) process.stdout.write(`forgetting ${id} (the storage server is offline: finished when it is back)\n`);
  const kept = answer.kept === undefined ? '' : `, ${answer.kept.length} kept`;
  process.stdout.write(`${answer.forgotten.length} ${dryRun ? 'would be forgotten' : 'forgotten'}${answer.forgetting.length ? `, ${answer.forgetting.length} forgetting` : ''}${kept}\n`);
}

const forget: Command = {
  name: 'forget',
  summary: "forget a job's snapshots by its retention policy, or --keep-… given here (--dry-run: list only)",
  usage: '--job J [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--dry-run] [--json]',
  example: 'forget --job home --keep-daily 7 --dry-run',
  help: {
    ...RETENTION_HELP,
    ...JSON_HELP,
    job: 'the job whose snapshots to forget (required); without --keep-*, by its own policy',
    'dry-run': 'list what would be forgotten, forget nothing',
  },
  options: { job: { type: 'string' }, ...KEEP_OPTIONS, 'dry-run': { type: 'boolean' }, ...JSON_OPTION },
  async run({ values }) {
    const job = requireString(values, 'job', 'forget');
    const keep = retentionOf(values);
    const dryRun = bool(values, 'dry-run');
    const answer = await withClient(async (c) => {
      if (Object.keys(keep).length === 0) {
        const shown = await c.get<JobJson>(`/api/jobs/${seg(job)}`);
        if (Object.keys(shown.retention).length === 0) throw new CairnError('E_USAGE', `job ${job} has no retention policy: give --keep-…`);
      }
      return c.post<ForgetJson>(`/api/jobs/${seg(job)}/forget`, { ...(Object.keys(keep).length ? { keep } : {}), dryRun });
    });
    printForget(answer, bool(values, 'json'), dryRun);
    return 0;
  },
};

export const snapshotForget: Command = {
  name: 'snapshot forget',
  summary: 'forget one snapshot (refused while a run uses it)',
  usage: 'SNAPSHOT [--json]',
  example: 'snapshot forget 0123abcd',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const answer = await withClient((c) => c.post<ForgetJson>(`/api/snapshots/${seg(snapshotArg(positionals[0]!))}/forget`, {}));
    printForget(answer, bool(values, 'json'), false);
    return 0;
  },
};

export const forgetCommands: Command[] = [forget];

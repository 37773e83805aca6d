// `cairn job edit NAME`: changes any setting of a job but its agent, storage and vault. A
// repeatable flag (--path, --exclude, --schedule) replaces its whole list, any --keep-* the whole
// policy; --no-schedule, --no-exclude and --no-keep clear them; --bwlimit 0, --max-runtime 0, --max-file-size 0
// remove a limit; --pause / --resume keep the schedule but stop or restart its firing. A run
// already started keeps the settings it started with.
import { CairnError } from '../../core/errors.ts';
import type { JobJson } from '../../protocol/api-types.ts';
import { seg } from '../api-client.ts';
import type { Command } from '../command.ts';
import { JOB_SETTING_HELP, JOB_SETTING_OPTIONS, settingsBody } from './job-flags.ts';
import { absolutePath, bool, JSON_HELP, JSON_OPTION, printObject, strs, withClient } from './shared.ts';

export function editBody(values: Record<string, unknown>): Record<string, unknown> {
  for (const fixed of ['agent', 'storage', 'vault'])
    if (values[fixed] !== undefined) throw new CairnError('E_USAGE', `job edit: --${fixed} cannot change; create a new job instead`);
  const body = settingsBody(values, true);
  if (values.path !== undefined) body.paths = strs(values, 'path').map((p) => absolutePath(p, 'path'));
  if (bool(values, 'no-schedule')) {
    if (body.schedule !== undefined) throw new CairnError('E_USAGE', 'job edit: --schedule and --no-schedule together');
    body.schedule = [];
  }
  if (bool(values, 'no-exclude')) {
    if (body.excludes !== undefined) throw new CairnError('E_USAGE', 'job edit: --exclude and --no-exclude together');
    body.excludes = [];
  }
  if (bool(values, 'no-keep')) {
    if (body.retention !== undefined) throw new CairnError('E_USAGE', 'job edit: --keep-* and --no-keep together');
    body.retention = {};
  }
  if (bool(values, 'pause') && bool(values, 'resume')) throw new CairnError('E_USAGE', 'job edit: --pause and --resume together');
  if (bool(values, 'pause')) body.paused = true;
  if (bool(values, 'resume')) body.paused = false;
  // booleans switched off explicitly
  for (const [flag, field] of [['one-file-system', 'oneFileSystem'], ['exclude-caches', 'excludeCaches']] as const) {
    if (!bool(values, `no-${flag}`)) continue;
    if (body[field] !== undefined) throw new CairnError('E_USAGE', `job edit: --${flag} and --no-${flag} together`);
    body[field] = false;
  }
  if (Object.keys(body).length === 0) throw new CairnError('E_USAGE', 'job edit: nothing to change (see cairn job edit --help)');
  return body;
}

export const editJobCommand: Command = {
  name: 'job edit',
  summary: 'change a job: any job create flag but --agent/--storage/--vault; --no-schedule, --no-exclude, --no-keep, --pause, --resume; 0 removes a limit',
  usage: "NAME [--path P …] [--exclude GLOB …] [--schedule 'CRON=LEVEL' …] [--keep-last N …] [--bwlimit RATE] [--priority N] [--max-runtime DURATION] [--retries N] [--one-file-system] [--exclude-caches] [--max-file-size SIZE] [--no-schedule] [--no-exclude] [--no-keep] [--no-one-file-system] [--no-exclude-caches] [--pause|--resume] [--json]",
  example: 'job edit home --keep-daily 14 --bwlimit 0',
  help: {
    ...JOB_SETTING_HELP,
    ...JSON_HELP,
    path: 'an absolute path to back up; the flags given replace the list',
    exclude: "a glob to skip: with a '/' it matches the whole path, without one the entry's name; the flags given replace the list",
    schedule: "'CRON=LEVEL' (level default incremental); the flags given replace the schedule",
    bwlimit: 'a bandwidth limit, e.g. 20M for 20 MiB/s; 0 removes it',
    'max-runtime': 'a run still going after this long (30s, 15m, 6h, 7d) is canceled; 0 removes the limit',
    'max-file-size': 'skip files larger than this, e.g. 1G; 0 removes the limit',
    priority: 'its runs start before lower ones waiting, 0 to 1000',
    retries: 'times a failed run is tried again, 0 to 100',
    'keep-last': 'keep the newest N snapshots; any --keep-* given replaces the whole policy',
    agent: 'cannot change (refused): create a new job instead',
    storage: 'cannot change (refused): create a new job instead',
    vault: 'cannot change (refused): create a new job instead',
    'no-schedule': 'clear the schedule',
    'no-keep': 'clear the retention policy',
    'no-exclude': 'clear the excludes',
    'no-one-file-system': 'cross into other file systems again',
    'no-exclude-caches': 'back up folders holding a CACHEDIR.TAG again',
    pause: 'keep the schedule but stop it firing',
    resume: 'let a paused schedule fire again',
  },
  options: {
    ...JOB_SETTING_OPTIONS,
    agent: { type: 'string' },
    storage: { type: 'string' },
    vault: { type: 'string' },
    'no-schedule': { type: 'boolean' },
    'no-keep': { type: 'boolean' },
    'no-exclude': { type: 'boolean' },
    'no-one-file-system': { type: 'boolean' },
    'no-exclude-caches': { type: 'boolean' },
    pause: { type: 'boolean' },
    resume: { type: 'boolean' },
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const body = editBody(values);
    const job = await withClient((c) => c.patch<JobJson>(`/api/jobs/${seg(positionals[0]!)}`, body));
    if (bool(values, 'json')) printObject(job, true);
    else process.stdout.write(`job ${job.name} changed${job.paused ? ' (paused)' : ''}${job.nextRun ? `; next run ${job.nextRun}` : ''}\n`);
    return 0;
  },
};

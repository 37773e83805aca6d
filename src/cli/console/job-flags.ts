// The flags `job create` and `job edit` share, and how they become the API's job body: schedules
// (five-field cron checked here as the server checks it), retention, bandwidth, priority, time
// limit, retries, file-system and size limits. Sizes and rates take k, M, G (powers of 1024),
// durations 30s, 15m, 6h, 7d; on an edit 0 removes a limit.
import { CairnError } from '../../core/errors.ts';
import { type Level, LEVELS } from '../../protocol/api-schema.ts';
import { parseCron } from '../../server/schedules.ts';
import { type Options, parseDuration, parseSize } from '../command.ts';
import { bool, oneOf, str, strs, wholeNumber } from './shared.ts';

export const RETENTION_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

/** --keep-last … --keep-yearly: a retention policy (job create/edit, forget). */
export const KEEP_OPTIONS: Options = Object.fromEntries(RETENTION_KEYS.map((k) => [`keep-${k}`, { type: 'string' as const }]));

export const JOB_SETTING_OPTIONS: Options = {
  path: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  schedule: { type: 'string', multiple: true },
  ...KEEP_OPTIONS,
  bwlimit: { type: 'string' },
  priority: { type: 'string' },
  'max-runtime': { type: 'string' },
  retries: { type: 'string' },
  'one-file-system': { type: 'boolean' },
  'exclude-caches': { type: 'boolean' },
  'max-file-size': { type: 'string' },
};

/** What each retention flag keeps (job create/edit and forget). */
export const RETENTION_HELP: Record<string, string> = {
  'keep-last': 'keep the newest N snapshots',
  'keep-hourly': 'keep the newest snapshot per hour, for N hours that have one',
  'keep-daily': 'keep the newest snapshot per day, for N days that have one',
  'keep-weekly': 'keep the newest snapshot per week, for N weeks that have one',
  'keep-monthly': 'keep the newest snapshot per month, for N months that have one',
  'keep-yearly': 'keep the newest snapshot per year, for N years that have one',
};

export const JOB_SETTING_HELP: Record<string, string> = {
  path: 'an absolute path to back up',
  exclude: "a glob to skip: with a '/' it matches the whole path (/home/*/.cache, **/node_modules), without one the entry's name (*.tmp)",
  schedule: "when it runs: 'CRON=LEVEL', a five-field cron and full|differential|incremental (default incremental)",
  ...RETENTION_HELP,
  bwlimit: 'a bandwidth limit, e.g. 20M for 20 MiB/s (default none)',
  priority: 'its runs start before lower ones waiting, 0 to 1000 (default 0)',
  'max-runtime': 'a run still going after this long (30s, 15m, 6h, 7d) is canceled (default no limit)',
  retries: 'times a failed run is tried again, 0 to 100 (default 2)',
  'one-file-system': 'stay on the file system of each path',
  'exclude-caches': 'skip folders holding a CACHEDIR.TAG',
  'max-file-size': 'skip files larger than this, e.g. 1G (default no limit)',
};

/** 'CRON=LEVEL' (the level after the last '='; incremental when none is given). */
export function parseSchedule(text: string): { cron: string; level: Level } {
  const at = text.lastIndexOf('=');
  const cron = (at < 0 ? text : text.slice(0, at)).trim();
  const level = at < 0 ? 'incremental' : text.slice(at + 1).trim();
  try {
    parseCron(cron);
  } catch (e) {
    throw new CairnError('E_USAGE', `--schedule must be 'CRON=LEVEL': ${(e as Error).message.replace(/^schedule: /, '')}`);
  }
  return { cron: cron.split(/\s+/).join(' '), level: oneOf(level, LEVELS, 'schedule level') };
}

/** {last, daily, …} from the --keep-* flags given. */
export function retentionOf(values: Record<string, unknown>): Record<string, number> {
  const retention: Record<string, number> = {};
  for (const key of RETENTION_KEYS) {
    const v = str(values, `keep-${key}`);
    if (v !== undefined) retention[key] = wholeNumber(v, `keep-${key}`, 1);
  }
  return retention;
}

/** Bytes per second from '10M', '512K/s', '1048576'; 0 only where a limit may be removed. */
export function parseRate(text: string, allowZero = false): number {
  const rate = parseSize(text.replace(/\/s$/i, ''), 'bwlimit');
  if (rate <= 0 && !allowZero) throw new CairnError('E_USAGE', `--bwlimit must be above zero (got ${text})`);
  return rate;
}

/**
 * The settings given as flags, as API fields. `edit`: 0 removes a limit, and only what was given
 * is in the body (a repeatable flag replaces its whole list).
 */
export function settingsBody(values: Record<string, unknown>, edit: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const given = (flag: string) => values[flag] !== undefined;
  if (given('exclude')) body.excludes = strs(values, 'exclude');
  if (given('schedule')) body.schedule = strs(values, 'schedule').map(parseSchedule);
  const retention = retentionOf(values);
  if (Object.keys(retention).length) body.retention = retention;
  const min = edit ? 0 : 1;
  if (given('bwlimit')) body.bwlimit = parseRate(str(values, 'bwlimit')!, edit);
  if (given('priority')) {
    const p = wholeNumber(str(values, 'priority')!, 'priority');
    if (p > 1000) throw new CairnError('E_USAGE', `--priority must be 0 to 1000: ${p}`);
    body.priority = p;
  }
  if (given('max-runtime')) {
    const s = parseDuration(str(values, 'max-runtime')!, 'max-runtime');
    if (s < min) throw new CairnError('E_USAGE', '--max-runtime must be above zero');
    body.maxRuntimeSeconds = s;
  }
  if (given('retries')) {
    const r = wholeNumber(str(values, 'retries')!, 'retries');
    if (r > 100) throw new CairnError('E_USAGE', `--retries must be 0 to 100: ${r}`);
    body.retries = r;
  }
  if (given('max-file-size')) {
    const size = parseSize(str(values, 'max-file-size')!, 'max-file-size');
    if (size < min) throw new CairnError('E_USAGE', '--max-file-size must be above zero');
    body.maxFileSize = size;
  }
  if (bool(values, 'one-file-system')) body.oneFileSystem = true;
  if (bool(values, 'exclude-caches')) body.excludeCaches = true;
  return body;
}

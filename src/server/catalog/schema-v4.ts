// Migration 4: unattended operation. Jobs gain the settings the scheduler and the agent act on
// (priority, time limit, retries, one file system, caches, size limit, pause) and the last
// schedule slot evaluated (so slots missed while the server was down are found at start-up);
// parts gain their own run limit and certificate expiry; runs gain their attempt, the first
// attempt's id, when a retry may start, and the agent's log lines kept so far.
import type { Dialect } from './driver.ts';

export function schemaV4(_d: Dialect): string[] {
  return [
    'ALTER TABLE jobs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE jobs ADD COLUMN max_runtime_s BIGINT',
    'ALTER TABLE jobs ADD COLUMN retries BIGINT NOT NULL DEFAULT 2',
    'ALTER TABLE jobs ADD COLUMN one_file_system BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE jobs ADD COLUMN exclude_caches BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE jobs ADD COLUMN max_file_size BIGINT',
    'ALTER TABLE jobs ADD COLUMN paused BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE jobs ADD COLUMN schedule_checked_at BIGINT', // ms: every slot up to here was evaluated
    'ALTER TABLE agents ADD COLUMN max_runs BIGINT',
    'ALTER TABLE agents ADD COLUMN cert_expires BIGINT',
    'ALTER TABLE storages ADD COLUMN max_runs BIGINT',
    'ALTER TABLE storages ADD COLUMN cert_expires BIGINT',
    'ALTER TABLE runs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1',
    'ALTER TABLE runs ADD COLUMN retry_of BIGINT',
    'ALTER TABLE runs ADD COLUMN not_before BIGINT', // a retry waits until then
    'ALTER TABLE runs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE runs ADD COLUMN max_runtime_s BIGINT', // the job's --max-runtime when the run started
    'ALTER TABLE runs ADD COLUMN warnings_total BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE runs ADD COLUMN damaged_total BIGINT NOT NULL DEFAULT 0',
    'ALTER TABLE run_log ADD COLUMN level TEXT NOT NULL DEFAULT \'info\'',
    "ALTER TABLE run_log ADD COLUMN part TEXT NOT NULL DEFAULT 'server'",
    'CREATE INDEX runs_by_job_status ON runs (job_id, status)',
  ];
}

// Migration 6: monitoring. Network history downsampled into per-minute and per-hour samples
// (heartbeats stay in memory; net_history keeps only online/offline transitions); when each part
// last changed status; bytes per second each backup and restore moved between an agent and a
// storage server; the figures storage servers report (disk space, pack bytes per vault); webhook
// alerts with their delivery queue (which survives a restart) and the marks that throttle them;
// the file index gains mode, owner and a symlink's target for `snapshot ls`.
// All figures are integers: round-trip times in microseconds, durations in milliseconds.
import type { Dialect } from './driver.ts';

export function schemaV6(d: Dialect): string[] {
  return [
    `CREATE TABLE net_samples (
      part_kind TEXT NOT NULL CHECK (part_kind IN ('agent', 'storage')),
      part_id BIGINT NOT NULL,
      bucket_ms BIGINT NOT NULL,              -- 60000 (kept 24 h) or 3600000 (kept 30 days)
      time BIGINT NOT NULL,                   -- the bucket's start
      rtt_us BIGINT,                          -- mean round-trip time of the bucket's heartbeats
      rtt_p99_us BIGINT,
      heartbeats BIGINT NOT NULL DEFAULT 0,
      online BIGINT NOT NULL,                 -- 1 when the part was online at any time in the bucket
      PRIMARY KEY (part_kind, part_id, bucket_ms, time)
    )`,
    'ALTER TABLE agents ADD COLUMN status_since BIGINT',
    'ALTER TABLE storages ADD COLUMN status_since BIGINT',
    `CREATE TABLE net_throughput (
      id ${d.idPrimaryKey},
      agent_id BIGINT NOT NULL,
      storage_id BIGINT NOT NULL,
      run_id BIGINT,                          -- null for a net test
      kind TEXT NOT NULL,                     -- backup, restore or nettest
      time BIGINT NOT NULL,                   -- when the transfer ended
      bytes BIGINT NOT NULL,
      duration_ms BIGINT NOT NULL
    )`,
    'CREATE INDEX net_throughput_by_pair ON net_throughput (agent_id, storage_id, time)',
    'ALTER TABLE storages ADD COLUMN bytes_stored BIGINT',
    'ALTER TABLE storages ADD COLUMN disk_free BIGINT',
    'ALTER TABLE storages ADD COLUMN disk_total BIGINT',
    'ALTER TABLE storages ADD COLUMN figures_at BIGINT',
    'ALTER TABLE vaults ADD COLUMN bytes_stored BIGINT',
    `CREATE TABLE alert_hooks (
      id ${d.idPrimaryKey},
      url TEXT NOT NULL,
      events TEXT NOT NULL,                   -- comma-separated event names
      secret TEXT NOT NULL,                   -- HMAC key of X-Cairn-Signature
      created_by BIGINT,
      created_at BIGINT NOT NULL,
      removed_at BIGINT,
      last_time BIGINT,
      last_event TEXT,
      last_status TEXT,                       -- the HTTP status, or why no answer came
      last_attempts BIGINT,
      dropped BIGINT NOT NULL DEFAULT 0       -- deliveries given up (too old or queue full)
    )`,
    `CREATE TABLE alert_queue (
      id ${d.idPrimaryKey},
      hook_id BIGINT NOT NULL,
      event TEXT NOT NULL,
      body TEXT NOT NULL,                     -- the exact JSON body signed and sent
      attempts BIGINT NOT NULL DEFAULT 0,
      created_at BIGINT NOT NULL,
      next_at BIGINT NOT NULL
    )`,
    'CREATE INDEX alert_queue_by_hook ON alert_queue (hook_id, id)',
    'CREATE TABLE alert_marks (key TEXT PRIMARY KEY, time BIGINT NOT NULL)',
    'ALTER TABLE files ADD COLUMN mode BIGINT',
    'ALTER TABLE files ADD COLUMN uid BIGINT',
    'ALTER TABLE files ADD COLUMN gid BIGINT',
    `ALTER TABLE files ADD COLUMN target ${d.bytes}`,
  ];
}

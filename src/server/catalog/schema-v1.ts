// Migration 1: the catalog's initial schema. Written in the SQL SQLite and PostgreSQL share; the
// few words that differ (auto ids, the bytes type, clustering) come from the Dialect. Times are
// integer milliseconds since the epoch (see driver.ts), JSON documents are TEXT, names are kept
// unique among live rows only, so a removed agent's name can be enrolled again.
import type { Dialect } from './driver.ts';

export function schemaV1(d: Dialect): string[] {
  return [
    `CREATE TABLE users (
      id ${d.idPrimaryKey},
      name TEXT NOT NULL UNIQUE,
      role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'user', 'auditor')),
      password_hash TEXT NOT NULL,           -- the KDF's self-describing string (algorithm, parameters, salt)
      created_at BIGINT NOT NULL,
      disabled_at BIGINT
    )`,
    `CREATE TABLE sessions (
      id ${d.idPrimaryKey},
      token_hash ${d.bytes} NOT NULL UNIQUE,  -- SHA-256 of the cookie: a catalog leak grants no session
      user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      last_used_at BIGINT
    )`,
    `CREATE TABLE api_tokens (
      id ${d.idPrimaryKey},
      user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      name TEXT NOT NULL,
      token_hash ${d.bytes} NOT NULL UNIQUE,
      created_at BIGINT NOT NULL,
      expires_at BIGINT,
      last_used_at BIGINT,
      revoked_at BIGINT
    )`,
    `CREATE TABLE enrollment_tokens (
      id ${d.idPrimaryKey},
      secret_hash ${d.bytes} NOT NULL UNIQUE,
      kind TEXT NOT NULL CHECK (kind IN ('agent', 'storage')),
      created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      used_at BIGINT                          -- one-time: set in the same transaction that enrolls
    )`,
    `CREATE TABLE agents (
      id ${d.idPrimaryKey},
      name TEXT NOT NULL,
      owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
      address TEXT,
      cert_fingerprint TEXT NOT NULL,         -- SHA-256 of the certificate's DER, hex
      public_key ${d.bytes},                  -- the agent's P-256 key that vault keys are wrapped to
      status TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline')),
      last_seen BIGINT,
      rtt_ms BIGINT,
      version TEXT,
      enrolled_at BIGINT NOT NULL,
      removed_at BIGINT
    )`,
    'CREATE UNIQUE INDEX agents_live_name ON agents (name) WHERE removed_at IS NULL',
    `CREATE TABLE storages (
      id ${d.idPrimaryKey},
      name TEXT NOT NULL,
      address TEXT,
      cert_fingerprint TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline')),
      last_seen BIGINT,
      rtt_ms BIGINT,
      version TEXT,
      enrolled_at BIGINT NOT NULL,
      removed_at BIGINT
    )`,
    'CREATE UNIQUE INDEX storages_live_name ON storages (name) WHERE removed_at IS NULL',
    `CREATE TABLE vaults (
      id ${d.idPrimaryKey},
      name TEXT NOT NULL,
      storage_id BIGINT NOT NULL REFERENCES storages(id),
      owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
      key_file TEXT NOT NULL,                 -- the vault's key file JSON: keys wrapped by the passphrase
      created_at BIGINT NOT NULL,
      UNIQUE (storage_id, name)
    )`,
    `CREATE TABLE jobs (
      id ${d.idPrimaryKey},
      name TEXT NOT NULL,
      owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
      agent_id BIGINT NOT NULL REFERENCES agents(id),
      storage_id BIGINT NOT NULL REFERENCES storages(id),
      vault_id BIGINT NOT NULL REFERENCES vaults(id),
      paths TEXT NOT NULL,                    -- JSON array of absolute paths
      excludes TEXT NOT NULL DEFAULT '[]',    -- JSON array of patterns
      schedule TEXT NOT NULL DEFAULT '[]',    -- JSON array of {cron, level}
      retention TEXT NOT NULL DEFAULT '{}',   -- JSON {last, daily, weekly, monthly, yearly}
      created_at BIGINT NOT NULL,
      removed_at BIGINT
    )`,
    'CREATE UNIQUE INDEX jobs_live_name ON jobs (name) WHERE removed_at IS NULL',
    `CREATE TABLE runs (
      id ${d.idPrimaryKey},
      job_id BIGINT REFERENCES jobs(id),      -- null for runs no job defines (an ad-hoc restore, gc)
      kind TEXT NOT NULL CHECK (kind IN ('backup', 'restore', 'verify', 'copy', 'gc')),
      level TEXT CHECK (level IN ('full', 'differential', 'incremental')),
      requested_level TEXT CHECK (requested_level IN ('full', 'differential', 'incremental')),
      status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
      reason TEXT,
      queued_at BIGINT NOT NULL,
      started_at BIGINT,
      ended_at BIGINT,
      agent_id BIGINT REFERENCES agents(id),
      storage_id BIGINT REFERENCES storages(id),
      snapshot TEXT,                          -- the new snapshot's id, for a backup
      files BIGINT NOT NULL DEFAULT 0,
      files_changed BIGINT NOT NULL DEFAULT 0,
      bytes BIGINT NOT NULL DEFAULT 0,
      bytes_read BIGINT NOT NULL DEFAULT 0,
      bytes_new BIGINT NOT NULL DEFAULT 0,
      warnings TEXT NOT NULL DEFAULT '[]',    -- JSON [{path, reason}]
      error TEXT,
      damaged TEXT NOT NULL DEFAULT '[]',     -- JSON [{path, reason}]
      pretreatment TEXT                       -- JSON report (restore)
    )`,
    'CREATE INDEX runs_by_job ON runs (job_id, id)',
    'CREATE INDEX runs_by_status ON runs (status, id)',
    `CREATE TABLE run_log (
      id ${d.idPrimaryKey},
      run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      time BIGINT NOT NULL,
      message TEXT NOT NULL
    )`,
    'CREATE INDEX run_log_by_run ON run_log (run_id, id)',
    `CREATE TABLE snapshots (
      pk ${d.idPrimaryKey},                   -- compact key for the file index; id is what people see
      id TEXT NOT NULL UNIQUE,                -- 64 hex, as in the vault's snapshot record
      job_id BIGINT REFERENCES jobs(id),
      agent_id BIGINT NOT NULL REFERENCES agents(id),
      storage_id BIGINT NOT NULL REFERENCES storages(id),
      vault_id BIGINT NOT NULL REFERENCES vaults(id),
      level TEXT NOT NULL CHECK (level IN ('full', 'differential', 'incremental')),
      time BIGINT NOT NULL,
      files BIGINT NOT NULL,
      bytes BIGINT NOT NULL
    )`,
    'CREATE INDEX snapshots_by_job ON snapshots (job_id, time)',
    `CREATE TABLE audit_log (
      id ${d.idPrimaryKey},
      time BIGINT NOT NULL,
      who TEXT NOT NULL,                      -- a user name, or agent:/storage: and the part's name
      what TEXT NOT NULL,                     -- the command or route, with its arguments
      result TEXT NOT NULL                    -- 'ok' or the error code
    )`,
    'CREATE INDEX audit_log_by_time ON audit_log (time)',
    `CREATE TABLE net_history (
      id ${d.idPrimaryKey},
      part_kind TEXT NOT NULL CHECK (part_kind IN ('agent', 'storage')),
      part_id BIGINT NOT NULL,
      time BIGINT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('online', 'offline')),
      rtt_ms BIGINT
    )`,
    'CREATE INDEX net_history_by_part ON net_history (part_kind, part_id, time)',
    // The file index, normalised as Bacula does: each directory's path once, each entry as
    // (directory id, name). Clustered by (snapshot, directory, name), listing one directory is
    // one contiguous range, already in name-byte order.
    `CREATE TABLE paths (
      id ${d.idPrimaryKey},
      path ${d.bytes} NOT NULL UNIQUE         -- the directory's absolute path, exact bytes
    )`,
    `CREATE TABLE files (
      snapshot_pk BIGINT NOT NULL REFERENCES snapshots(pk) ON DELETE CASCADE,
      path_id BIGINT NOT NULL REFERENCES paths(id),
      name ${d.bytes} NOT NULL,
      type TEXT NOT NULL,
      size BIGINT NOT NULL,
      mtime_ns BIGINT NOT NULL,
      PRIMARY KEY (snapshot_pk, path_id, name)
    ) ${d.clustered}`,
  ];
}

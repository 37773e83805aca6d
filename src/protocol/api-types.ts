// The JSON shapes the REST API answers with, exactly as SPEC.md's "What the commands print"
// lists them (the CLI's --json prints these objects unchanged). Times are ISO 8601 UTC strings.
import type { ConflictPolicy, Level } from './api-schema.ts';
import type { ConflictCounts, RunPhase, Warning } from './control.ts';

export type RunKind = 'backup' | 'restore' | 'verify' | 'copy' | 'gc';
export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINISHED: readonly RunStatus[] = ['succeeded', 'failed', 'canceled'];

export type RunJson = {
  id: number;
  job: string | null;
  kind: RunKind;
  level: Level | null;
  requestedLevel: Level | null;
  status: RunStatus;
  reason: string | null;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  agent: string | null;
  storage: string | null;
  snapshot: string | null;
  files: number;
  filesChanged: number;
  bytes: number;
  bytesRead: number;
  bytesNew: number;
  /** the file being read now, while the run is running */
  currentPath: string | null;
  /** while running, from its last progress (SPEC "Monitoring and alerts"; control.ts RunProgress) */
  phase?: RunPhase | null;
  filesScanned?: number;
  bytesScanned?: number;
  filesRead?: number;
  bytesSent?: number;
  rateBytesPerSec?: number;
  etaSeconds?: number | null;
  warnings: Warning[];
  error: string | null;
  damaged: Warning[];
  pretreatment: unknown;
  /** warnings and damaged carry the first 1,000; these count them all */
  warningsTotal: number;
  damagedTotal: number;
  /** 1 for a first attempt; a retry of a run failed as unavailable counts on */
  attempt: number;
  /** the first attempt's id, for a retry */
  retryOf: number | null;
  /** the retry queued after this run failed, when there is one */
  nextAttempt: number | null;
  /** a restore: existing files renamed, skipped or overwritten (a dry run: would be); null until reported */
  conflicts?: ConflictCounts | null;
  /** a gc: what it freed (or, on append-only storage without a code, would free) */
  bytesFreed?: number;
  chunksDeleted?: number;
  packsRewritten?: number;
  packsDeleted?: number;
  confirmationNeeded?: boolean;
};

export type SnapshotJson = {
  id: string;
  job: string | null;
  agent: string;
  storage: string;
  vault: string;
  level: Level;
  time: string;
  files: number;
  bytes: number;
};

export type PartJson = {
  name: string;
  status: 'online' | 'offline';
  lastSeen: string | null;
  rttMs: number | null;
  version: string | null;
  address: string | null;
  /** when the part's certificate expires (it renews at two thirds of its life); null before it was recorded */
  certExpires: string | null;
  /** runs at once on this part: its own limit, else the server's default for its kind */
  maxRuns: number;
  /** storage servers: the gc schedule (five-field cron), null for none */
  gcSchedule?: string | null;
  owner?: string | null;
  /** agents: SHA-256 (hex) of the key-wrapping public key's SPKI DER */
  keyFingerprint?: string | null;
} & Partial<StorageFiguresJson>;

/** Pack bytes on disk (null until the storage server reported them), the `bytes` of the snapshots held, and logical/stored (null when stored is 0 or unknown). */
export type FiguresJson = { bytesStored: number | null; bytesLogical: number; dedupRatio: number | null };
/** storage list items add the disk space of the storage server's data folder, null until reported */
export type StorageFiguresJson = FiguresJson & { diskFreeBytes: number | null; diskTotalBytes: number | null };

/** `net status` items (SPEC.md "Monitoring and alerts"): p50/p99 over the last hour, `since` the last status change. */
export type NetStatusJson = {
  name: string;
  kind: 'agent' | 'storage';
  status: 'online' | 'offline';
  lastSeen: string | null;
  rttMs: number | null;
  rttP50Ms: number | null;
  rttP99Ms: number | null;
  since: string | null;
};

/** `net history` items: per-minute samples within 24 h, hourly ones beyond, oldest first. */
export type NetSampleJson = { time: string; rttMs: number | null; rttP99Ms: number | null; online: boolean };

/** `GET /api/net/throughput` items, newest first: one per backup, restore or net test. */
export type ThroughputJson = { time: string; kind: 'backup' | 'restore' | 'nettest'; agent: string; storage: string; bytes: number; seconds: number; bytesPerSec: number; run: number | null };

/** `net test --json`: measured by the agent over the storage server's data plane. */
export type NetTestJson = { bytes: number; seconds: number; throughputBytesPerSec: number; rttMs: number };

/** `status --json`: the one-screen view. */
export type StatusJson = { running: RunJson[]; queued: RunJson[]; parts: NetStatusJson[]; storage: PartJson[]; failures: RunJson[] };

export type JobJson = {
  name: string;
  agent: string;
  storage: string;
  vault: string;
  paths: string[];
  excludes: string[];
  schedule: { cron: string; level: Level }[];
  retention: Record<string, number>;
  bwlimit: number | null;
  /** 0–1000: waiting runs go highest first */
  priority: number;
  maxRuntimeSeconds: number | null;
  /** how many times a run failed as unavailable is retried */
  retries: number;
  oneFileSystem: boolean;
  excludeCaches: boolean;
  maxFileSize: number | null;
  /** the schedule is kept but does not fire */
  paused: boolean;
  /** the next scheduled slot (null without a schedule or while paused) */
  nextRun: string | null;
  owner: string | null;
  createdAt: string;
};

export type VaultJson = {
  name: string;
  storage: string;
  owner: string | null;
  createdAt: string;
  /** agents holding the vault's keys wrapped to their own key pair */
  agents: string[];
} & FiguresJson;

export type LsEntryJson = {
  name: string;
  path: string;
  type: string;
  size: number;
  mtime: string;
  /** permission bits (st_mode & 0o7777), owner ids, a symlink's target; null for snapshots indexed before issue 12 */
  mode: number | null;
  uid: number | null;
  gid: number | null;
  target: string | null;
  nameBytes?: string;
  pathBytes?: string;
  /** the target's exact bytes in base64 when they are not valid UTF-8 */
  targetBytes?: string;
};

/** GET /api/snapshots/:id/ls?path=…&after=…&limit=…: one page of a directory, sorted by name bytes. */
export type LsQuery = {
  path?: string;
  /** the directory's exact bytes in base64 (instead of path) */
  pathBytes?: string;
  /** only names sorting after this one (its bytes %-encoded, as the Cairn-Next-After header gives it) */
  after?: string;
  /** or the name's exact bytes in base64, as an entry's nameBytes */
  afterBytes?: string;
  /** 1 to 10,000; default 1,000 */
  limit?: number;
};
/** When a listing was cut, this answer header holds the next page's `after` (the last name, %-encoded bytes). */
export const NEXT_AFTER_HEADER = 'cairn-next-after';

/** One file whose base name matched GET /api/jobs/:name/find?name=GLOB. */
export type FindMatchJson = {
  snapshot: string;
  /** the snapshot's time */
  time: string;
  path: string;
  size: number;
  mtime: string;
  type: string;
  /** the path's exact bytes in base64 when they are not valid UTF-8 */
  pathBytes?: string;
};
/** Matches newest snapshot first; `truncated` when more matched than the limit (1 to 1,000, default 1,000). */
export type FindAnswerJson = { matches: FindMatchJson[]; truncated: boolean };

export type RestoreRequest = {
  snapshot: string;
  agent?: string;
  to?: string;
  include?: string[];
  conflict?: ConflictPolicy;
  dryRun?: boolean;
};

/** A catalog rebuild from a vault (`cairn server rebuild-catalog`), kept by the server while it runs and after. */
export type RebuildJson = {
  id: number;
  storage: string;
  vault: string;
  agent: string;
  status: 'running' | 'succeeded' | 'failed';
  /** snapshots added to the catalog so far, and their regular files */
  snapshots: number;
  files: number;
  /** snapshots found in the vault that the catalog already had */
  known: number;
  /** snapshots skipped because their record or trees could not be read */
  warnings: Warning[];
  error: { code: string; message: string } | null;
  startedAt: string;
  endedAt: string | null;
};

/** What the storage server keeps of a vault (GET /api/storages/:name/vaults/:vault): enough to adopt it. */
export type StorageVaultJson = { name: string; storage: string; chunker: unknown; keyFile: unknown };

/** POST /api/vaults/:name/scrub: the storage server re-hashed every pack file of the vault (no keys). */
export type ScrubJson = {
  vault: string;
  storage: string;
  /** pack files read, and their bytes */
  packs: number;
  bytes: number;
  /** damaged packs with why (a hash mismatch, a missing file, a misplaced or unsound file): the first 1,000 findings */
  damaged: { pack: string; reason: string }[];
  /** every finding, listed or not */
  damagedTotal: number;
};

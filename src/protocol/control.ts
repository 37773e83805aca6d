// The control channel between the backup server and each part (docs/control-plane.md): the
// frames on the WebSocket, the calls each side may make with their params and results, and the
// check every received frame goes through before anyone acts on it.
import { CairnError } from '../core/errors.ts';
import { testCount } from '../core/test-settings.ts';
import type { ConflictPolicy, Level, Schema } from './api-schema.ts';

export const CONTROL_PATH = '/api/control';
export const HEARTBEAT_MS = 5000;
/** Missed heartbeats after which either side gives the connection up. */
export const HEARTBEAT_MISSES = 3;
/** Largest frame either side accepts (an index batch is the largest). */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type ErrorInfo = { code: string; message: string };

/** `runs`: an agent's runs still executing or whose runEnded is not yet answered (re-attachment) */
export type HelloFrame = { t: 'hello'; version: string; address: string; runs?: number[] };
export type WelcomeFrame = { t: 'welcome'; name: string };
export type CallFrame = { t: 'call'; id: number; method: string; params: unknown };
export type ReplyFrame = { t: 'reply'; id: number; result?: unknown; error?: ErrorInfo };
export type EventFrame = { t: 'event'; run: number; kind: 'progress' | 'log'; data: unknown };
export type Frame = HelloFrame | WelcomeFrame | CallFrame | ReplyFrame | EventFrame;

/** Where an agent finds a storage server's data plane for one run. */
export type StorageRef = { name: string; url: string };

/** Counters of a backup, as the run shows them. */
export type BackupCounters = {
  files: number;
  dirs: number;
  bytes: number;
  filesChanged: number;
  bytesRead: number;
  bytesNew: number;
};

export type Warning = { path: string; reason: string };

// ---- server → agent
export type BackupParams = {
  run: number;
  job: string;
  level: Level;
  paths: string[];
  excludes: string[];
  storage: StorageRef;
  vault: string;
  grant: string;
  /** the vault keys wrapped to this agent's key (core/agent-keys.ts) */
  keys: string;
  /** reference snapshot id (unchanged files reuse its chunks); none for a first backup */
  parent?: string;
  /** read every file even when its metadata is unchanged (a full backup, or --force-read) */
  forceRead: boolean;
  /** the job's --bwlimit: pack bytes sent per second (token bucket, bursts ≤ 1 s of the rate) */
  bwlimit?: number;
  /** --one-file-system: each path stays on its own file system; a mount point inside is kept as an empty directory */
  oneFileSystem?: boolean;
  /** --exclude-caches: a directory with a valid CACHEDIR.TAG keeps the directory and the tag only */
  excludeCaches?: boolean;
  /** --max-file-size: regular files larger than this many bytes are skipped (counted in the run log) */
  maxFileSize?: number;
  /** bytes of the job's newest snapshot (a full backup's too): what its progress takes as the size of the work */
  previousBytes?: number;
};
/** What a run moved over the data plane (bytes sent for a backup, received for a restore) and the ms requests were in flight. */
export type DataTransfer = { bytes: number; ms: number };

export type BackupResult = BackupCounters & {
  snapshot: string;
  time: string;
  transfer?: DataTransfer;
  /** the first MAX_RESULT_ENTRIES warnings; warningsTotal counts them all */
  warnings: Warning[];
  warningsTotal?: number;
};

/** Warnings and damaged lists carried in a run's result (and kept in the run) stop at this many. */
export const MAX_RESULT_ENTRIES = 1000;
/** Lines of a run's log the parts may add (the server's own lines come on top). */
export const MAX_RUN_LOG_LINES = 10_000;

/** MAX_RUN_LOG_LINES, or the lower count a test sets in CAIRN_TEST_RUN_LOG_LINES. */
export function runLogLimit(): number {
  return testCount('RUN_LOG_LINES', MAX_RUN_LOG_LINES);
}

/** data of an `event` of kind 'log': one line for the run's log */
export type LogEventData = { level: 'info' | 'warn' | 'error'; message: string };

/**
 * agent → server, `runEnded`: a run's outcome, sent when the run ends and re-sent after every
 * reconnect until answered (idempotent, keyed by run id). Exactly one of result and error.
 */
export type RunEndedParams = { run: number; result?: unknown; error?: ErrorInfo };

export type RestoreParams = {
  run: number;
  snapshot: string;
  storage: StorageRef;
  vault: string;
  grant: string;
  keys: string;
  /** DIR: each file lands at DIR + its original absolute path; '/' = the original place */
  to: string;
  include: string[];
  conflict: ConflictPolicy;
  dryRun: boolean;
};
export type RestoreResult = {
  files: number;
  bytes: number;
  /** the first MAX_RESULT_ENTRIES; the totals count all */
  damaged: Warning[];
  warnings: Warning[];
  damagedTotal?: number;
  warningsTotal?: number;
  /** what the checks before writing found */
  pretreatment: RestorePretreatment;
  transfer?: DataTransfer;
};
/** Existing entries a restore met, by what its conflict policy did with each. */
export type ConflictCounts = { renamed: number; skipped: number; overwritten: number };

/**
 * A restore's checks before writing (SPEC.md "Restore subsystem"), kept in the run. `ok` false:
 * nothing was written and `problems` says why. The fields after `problems` are there when the
 * agent was reached.
 */
export type RestorePretreatment = {
  target: string;
  /** false: the run failed at once, its agent being offline */
  agentOnline?: boolean;
  ok: boolean;
  problems: string[];
  /** existing entries in the way and what the conflict policy does with each (the first 1000) */
  conflicts: { path: string; action: string }[];
  /** all of them by what was (a dry run or failed check: would be) done; absent from runs before issue 12 */
  conflictCounts?: ConflictCounts;
  /**
   * What the restore writes (entries other than directories, files' bytes, distinct chunks) and
   * how it reads them: `blobs` requests, each answered in pack order; distinct packs; pack visits
   * over all requests (= packs when each pack is read once); sealed bytes fetched; the first 100
   * packs in the order they are first read, with the distinct chunks and bytes taken from each.
   */
  plan?: {
    files: number;
    bytes: number;
    chunks: number;
    requests?: number;
    packs?: number;
    packReads?: number;
    readBytes?: number;
    order?: { pack: string; chunks: number; bytes: number }[];
  };
  /** of those chunks, the ones the storage server does not hold */
  missingChunks?: number;
  /** each filesystem written to: bytes the files take there (whole blocks) and bytes free */
  space?: { mount: string; neededBytes: number; freeBytes: number }[];
};

export type CancelParams = { run: number };

// ---- verify (server → agent), a run of kind 'verify'
export const VERIFY_LEVELS = ['catalog', 'data', 'disk'] as const;
export type VerifyLevel = (typeof VERIFY_LEVELS)[number];
export type VerifyParams = {
  run: number;
  snapshot: string;
  level: VerifyLevel;
  storage: StorageRef;
  vault: string;
  /** a grant for op 'verify' (reads only) */
  grant: string;
  keys: string;
  /** level disk: the snapshot's job's exclude globs (what they match on disk is not "extra") */
  excludes?: string[];
};
export type VerifyResult = {
  /** regular files checked */
  files: number;
  /** their logical bytes */
  bytes: number;
  /** chunks checked (present in the index, or read back and re-hashed) */
  chunks: number;
  /** every file the damage touches, with why (a missing chunk, a failed check, differs on disk) */
  damaged: Warning[];
  warnings: Warning[];
  damagedTotal?: number;
  warningsTotal?: number;
};

/** A result's `damaged` and `warnings` cut to their first MAX_RESULT_ENTRIES, with totals, so a reply stays small. */
export function boundResult<T extends { damaged: Warning[]; warnings: Warning[]; damagedTotal?: number; warningsTotal?: number }>(r: T): T {
  return {
    ...r,
    damaged: r.damaged.slice(0, MAX_RESULT_ENTRIES),
    warnings: r.warnings.slice(0, MAX_RESULT_ENTRIES),
    damagedTotal: Math.max(r.damagedTotal ?? 0, r.damaged.length),
    warningsTotal: Math.max(r.warningsTotal ?? 0, r.warnings.length),
  };
}

// ---- estimate (server → agent), stores nothing, one per agent at a time; cancelEstimate {} → {canceled} stops it
export type EstimateParams = Omit<BackupParams, 'run' | 'grant'> & { grant: string };
export type EstimateResult = { files: number; bytes: number };

// ---- catalog rebuild (server → agent), then the agent reports each snapshot it finds
export type RebuildParams = { storage: StorageRef; vault: string; grant: string; keys: string; rebuild: number };
export type RebuildResult = { snapshots: number; files: number; warnings: Warning[] };
/** agent → server during a rebuild: one snapshot found in the vault; answered {known}. A new one's index follows with rebuildIndex */
export type SnapshotFoundParams = { rebuild: number; snapshot: string; time: string; host: string; paths: string[]; counters: BackupCounters };
export type SnapshotFoundResult = { known: boolean };
/** agent → server: a batch of a rebuilt snapshot's index (run = the rebuild id); `last` ends that snapshot's index */
export type RebuildIndexParams = SnapshotIndexParams & { last: boolean };
/** agent → server: a fresh grant for a long rebuild (answered as renewGrant is) */
export type RebuildGrantParams = { rebuild: number };

// ---- server → storage
export type CreateVaultParams = { vault: string; config: unknown };
export type ScrubParams = { vault: string };
/**
 * `deleteSnapshot`: removes the snapshot's record and refs, durably; a snapshot already gone
 * answers `deleted` too. An append-only storage server removes nothing: it records a deletion
 * request, carried out by a confirmed gc, and answers `requested`.
 */
export type DeleteSnapshotParams = { vault: string; snapshot: string };
export type DeleteSnapshotResult = { deleted: true } | { requested: true };
/**
 * `gc`: collects the garbage of every vault of the storage server, without keys. On an
 * append-only one, without `confirm` it only marks and answers the figures it would free with
 * `confirmationNeeded: true` (the code goes to the storage server's log and DATA/gc-confirm);
 * with the right code it frees what that marking listed; a wrong or expired code is E_FORBIDDEN.
 */
export type GcParams = { confirm?: string };
export type GcResult = {
  bytesFreed: number;
  chunksDeleted: number;
  packsRewritten: number;
  packsDeleted: number;
  confirmationNeeded?: boolean;
  /** vaults collected (or marked) */
  vaults: number;
};
/**
 * `figures`: the storage server's disk space (statfs of its data folder) and each vault's pack
 * bytes and packs as its index counts them; the backup server keeps them in the catalog.
 */
export type StorageFiguresResult = {
  diskFreeBytes: number;
  diskTotalBytes: number;
  vaults: { name: string; bytesStored: number; packs: number }[];
};

// ---- agent → server
export type SnapshotCreatedParams = { run: number; snapshot: string; time: string; counters: BackupCounters };
/** Up to INDEX_BATCH entries of the new snapshot's file index; bytes as base64. */
/**
 * One entry of a snapshot's file index: `dir`, `name` and a symlink's `target` as base64 of their
 * exact bytes; `mode` (permission bits), `uid`, `gid` and `target` are absent from agents before issue 12.
 */
export type IndexEntryWire = { dir: string; name: string; type: string; size: number; mtimeNs: string; mode?: number; uid?: number; gid?: number; target?: string };
export type SnapshotIndexParams = { run: number; snapshot: string; entries: IndexEntryWire[] };
export const INDEX_BATCH = 5000;
export type RenewGrantParams = { run: number };
export type RenewGrantResult = { grant: string };

// ---- agent or storage → server
/**
 * `renewCertificate`: a CSR for this part's own name with a new key; answered with the CA's
 * certificate for it, which replaces the part's enrolled one at once. Asking again with the same
 * CSR (its answer was lost) answers the certificate already issued for that key.
 */
export type RenewCertificateParams = { csr: string; /** ignored (older storage servers send their listen host): part certificates name no hosts */ hosts?: string[] };
export type RenewCertificateResult = { certificate: string };
export const renewCertificateSchema: Schema = {
  type: 'object',
  properties: {
    csr: { type: 'string', minLength: 1, maxLength: 16384 },
    hosts: { type: 'array', items: { type: 'string', maxLength: 255 }, maxItems: 16 },
  },
  required: ['csr'],
};

/** What a running run is doing, per kind, in the order it goes through them (SPEC "Monitoring and alerts"). */
export const RUN_PHASES = {
  backup: ['scanning', 'reading', 'uploading', 'finishing'],
  restore: ['planning', 'restoring', 'finishing'],
  verify: ['checking'],
  gc: ['marking', 'sweeping'],
} as const;
export type RunPhase = (typeof RUN_PHASES)[keyof typeof RUN_PHASES][number];
const PHASES: ReadonlySet<string> = new Set(Object.values(RUN_PHASES).flat());

/**
 * The live counters of a running run. Scanned: what the walk has passed (an unchanged file is
 * scanned, not read); read: files and bytes read and chunked; new: sealed bytes the vault lacked;
 * sent: pack bytes handed to the storage server. `rateBytesPerSec` is the phase's work over the
 * last 10 s; `etaSeconds` is null while the bytes left are not known.
 */
export type RunProgress = {
  phase: RunPhase;
  filesScanned: number;
  bytesScanned: number;
  filesRead: number;
  bytesRead: number;
  bytesNew: number;
  bytesSent: number;
  rateBytesPerSec: number;
  etaSeconds: number | null;
  currentPath: string;
};

/** Progress event data (all optional but what is known so far); `files`…`bytesNew` are the run's own counters. */
export type ProgressData = Partial<BackupCounters> & Partial<RunProgress>;

const PROGRESS_COUNTS = ['files', 'dirs', 'bytes', 'filesChanged', 'bytesRead', 'bytesNew', 'filesScanned', 'bytesScanned', 'filesRead', 'bytesSent', 'rateBytesPerSec'] as const;

/** The fields of a progress event a server keeps: known names with values of their type, nothing else. */
export function progressData(v: unknown): ProgressData {
  if (!isObject(v)) return {};
  const out: Record<string, unknown> = {};
  for (const k of PROGRESS_COUNTS) if (typeof v[k] === 'number' && Number.isFinite(v[k]) && v[k] >= 0) out[k] = v[k];
  if (v.etaSeconds === null || (typeof v.etaSeconds === 'number' && Number.isFinite(v.etaSeconds) && v.etaSeconds >= 0)) out.etaSeconds = v.etaSeconds;
  if (typeof v.phase === 'string' && PHASES.has(v.phase)) out.phase = v.phase;
  if (typeof v.currentPath === 'string') out.currentPath = v.currentPath.slice(0, 4096);
  return out as ProgressData;
}

function bad(message: string): CairnError {
  return new CairnError('E_BAD_REQUEST', `control frame: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses and checks one received text frame; throws E_BAD_REQUEST on anything malformed. */
export function parseFrame(text: string): Frame {
  if (text.length > MAX_FRAME_BYTES) throw bad('too large');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (!isObject(v)) throw bad('not an object');
  switch (v.t) {
    case 'hello':
      if (typeof v.version !== 'string' || typeof v.address !== 'string' || v.address.length > 512) throw bad('bad hello');
      if (v.runs !== undefined && (!Array.isArray(v.runs) || v.runs.length > 10_000 || !v.runs.every((r) => Number.isSafeInteger(r) && (r as number) > 0)))
        throw bad('bad hello runs');
      return { t: 'hello', version: v.version.slice(0, 64), address: v.address, ...(v.runs ? { runs: v.runs as number[] } : {}) };
    case 'welcome':
      if (typeof v.name !== 'string') throw bad('bad welcome');
      return { t: 'welcome', name: v.name };
    case 'call':
      if (!Number.isSafeInteger(v.id) || typeof v.method !== 'string') throw bad('bad call');
      return { t: 'call', id: v.id as number, method: v.method, params: v.params };
    case 'reply': {
      if (!Number.isSafeInteger(v.id)) throw bad('bad reply');
      if (v.error !== undefined) {
        const e = v.error as Record<string, unknown>;
        if (!isObject(e) || typeof e.code !== 'string' || typeof e.message !== 'string') throw bad('bad reply error');
        return { t: 'reply', id: v.id as number, error: { code: e.code, message: e.message } };
      }
      return { t: 'reply', id: v.id as number, result: v.result };
    }
    case 'event':
      if (!Number.isSafeInteger(v.run) || (v.kind !== 'progress' && v.kind !== 'log')) throw bad('bad event');
      return { t: 'event', run: v.run as number, kind: v.kind, data: v.data };
    default:
      throw bad(`unknown frame type ${JSON.stringify(v.t)?.slice(0, 20)}`);
  }
}

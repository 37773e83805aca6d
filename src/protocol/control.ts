// The control channel between the backup server and each part (docs/control-plane.md): the
// frames on the WebSocket, the calls each side may make with their params and results, and the
// check every received frame goes through before anyone acts on it.
import { CairnError } from '../core/errors.ts';
import type { ConflictPolicy, Level } from './api-schema.ts';

export const CONTROL_PATH = '/api/control';
export const HEARTBEAT_MS = 5000;
/** Missed heartbeats after which either side gives the connection up. */
export const HEARTBEAT_MISSES = 3;
/** Largest frame either side accepts (an index batch is the largest). */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type ErrorInfo = { code: string; message: string };

export type HelloFrame = { t: 'hello'; version: string; address: string };
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
  /** read every file even when its metadata is unchanged (a full backup) */
  forceRead: boolean;
};
export type BackupResult = BackupCounters & {
  snapshot: string;
  time: string;
  warnings: Warning[];
};

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
  damaged: Warning[];
  warnings: Warning[];
  /** what the checks before writing found (issue 5 fills in free space and chunk presence) */
  pretreatment: { target: string; conflicts: { path: string; action: string }[]; ok: boolean; problems: string[] };
};

export type CancelParams = { run: number };

// ---- server → storage
export type CreateVaultParams = { vault: string; config: unknown };
export type ScrubParams = { vault: string };

// ---- agent → server
export type SnapshotCreatedParams = { run: number; snapshot: string; time: string; counters: BackupCounters };
/** Up to INDEX_BATCH entries of the new snapshot's file index; bytes as base64. */
export type IndexEntryWire = { dir: string; name: string; type: string; size: number; mtimeNs: string };
export type SnapshotIndexParams = { run: number; snapshot: string; entries: IndexEntryWire[] };
export const INDEX_BATCH = 5000;
export type RenewGrantParams = { run: number };
export type RenewGrantResult = { grant: string };

/** Progress event data for a backup or restore (all optional but the counters known so far). */
export type ProgressData = Partial<BackupCounters> & { currentPath?: string; phase?: string };

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
      return { t: 'hello', version: v.version.slice(0, 64), address: v.address };
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

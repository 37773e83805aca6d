// What a restore is given and what it gives back (restorer.ts); the pretreatment (restore-plan.ts)
// takes the same options, less what only writing needs.
import type { VaultKeys } from '../../core/keys.ts';
import type { SnapshotRecord } from '../../core/snapshot.ts';
import type { StorageClient } from '../storage-client.ts';
import type { LoadTrees } from '../tree-store.ts';
import type { Conflict, ConflictCounts, ConflictPolicy } from './conflicts.ts';
import type { SyncFs } from './dir-sync.ts';
import type { EarlyFetchWorker } from './fetch-worker-start.ts';

export type RestoreOptions = {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  snapshot: SnapshotRecord;
  /** DIR: each file lands at DIR + its original absolute path; '/' = original place */
  target: string;
  /** original absolute paths (file or subtree) to restore; default all */
  include?: string[];
  workers?: number;
  /** a fetching worker started ahead (during the pretreatment) with the same client, vault and keys */
  early?: EarlyFetchWorker;
  onProgress?: (p: { files: number; bytes: number; currentPath?: string }) => void;
  /** what to do where something exists already; default overwrite */
  conflict?: ConflictPolicy;
  /** the time in the names `rename` gives; default now */
  startedAt?: Date;
  /** aborts the restore (a canceled run): files being written are dropped, the error is the reason */
  signal?: AbortSignal;
  /** flushes one file system before the restore resolves (tests watch it); default syncfs via `sync -f` */
  syncFs?: SyncFs;
  /** loads trees (each a list of chunk ids), checked; default from `client` (tree-store.ts); run-restore.ts passes the pretreatment's */
  loadTrees?: LoadTrees;
};

export type RestoreResult = {
  files: number;
  dirs: number;
  bytes: number;
  damaged: { path: string; reason: string }[];
  /** entries that found something at their path (the first MAX_LISTED_CONFLICTS) */
  conflicts: Conflict[];
  /** all of them, by what the policy did */
  conflictCounts: ConflictCounts;
  warnings: { path: string; reason: string }[];
};

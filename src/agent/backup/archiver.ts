// The backup of a set of paths into a vault: one snapshot.
//
// The main thread walks the file system depth first (only the directories on the way down and
// their listings are in memory) and compares each entry with the reference snapshot's tree for
// the same directory. An unchanged file reuses its chunk ids without being read; the others go
// to FileSaver, whose worker threads read, chunk and hash them. Every chunk id meets BlobSealer:
// ids seen before are dropped, the rest are asked about in batches, and only chunks the storage
// lacks are compressed and sealed (in a worker) and packed for upload (PackUploader). When all of
// a directory's entries are known, TreeSaver stores its tree and the parent learns the tree's
// ids. Memory is bounded by the arenas in flight (back-pressure) and the pending directories,
// not by the size of the tree. At the end: wait for every upload, then save the snapshot record
// and the list of every chunk id it references. A --bwlimit paces the pack uploads alone
// (RateLimiter): the pipeline upstream then waits on PackUploader's room like on a slow network.
import { availableParallelism } from 'node:os';
import type { ChunkerParams } from '../../core/chunker.ts';
import { gearTable } from '../../core/chunker.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { testCount } from '../../core/test-settings.ts';
import { newSnapshotId, type SnapshotRecord } from '../../core/snapshot.ts';
import type { TreeNode } from '../../core/tree.ts';
import { watchHeap } from '../gc-nudge.ts';
import { ScanRules, type ScanSettings } from '../scan-rules.ts';
import { displayPath, planPaths, type ScanWarning, type WarningSink } from '../scan.ts';
import { saveSnapshot } from '../snapshots.ts';
import type { StorageClient } from '../storage-client.ts';
import { treeLoader } from '../tree-store.ts';
import { WorkerPool } from '../worker-pool.ts';
import { ArenaPool } from './arena-pool.ts';
import { SealRing } from './seal-ring.ts';
import { BlobSealer } from './blob-sealer.ts';
import type { ChunkerWorkerData, WorkerResult, WorkerTask } from './chunk-messages.ts';
import { DedupBatcher } from './dedup-batcher.ts';
import { FileSaver, type FileSaverStats } from './file-saver.ts';
import { DEFAULT_PACK_SIZE, PackUploader } from './pack-uploader.ts';
import { RateLimiter } from './rate-limiter.ts';
import { ReferenceTrees } from './reference-trees.ts';
import { SnapshotRefs } from './snapshot-refs.ts';
import { TreeSaver } from './tree-saver.ts';
import { TreeWalker, type WalkCounters } from './tree-walker.ts';

/**
 * Where a backup is: `scanning` until the first file is read, `reading` until the walk has read
 * every file, `uploading` until the last pack is stored, then `finishing` (the snapshot record).
 */
export type BackupPhase = 'scanning' | 'reading' | 'uploading' | 'finishing';

/** The snapshot's counters so far, pack bytes sent, the phase, and the path being read. */
export type BackupProgress = SnapshotRecord['summary'] & { bytesSent: number; phase: BackupPhase; currentPath?: string };

export type BackupOptions = ScanSettings & {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  chunker: ChunkerParams;
  /** absolute paths to back up */
  paths: string[];
  host: string;
  /** reference snapshot: unchanged files reuse its chunk lists without being read */
  parent?: SnapshotRecord;
  forceRead?: boolean;
  /** worker threads, default os.availableParallelism() */
  workers?: number;
  onProgress?: (p: BackupProgress) => void;
  /**
   * Told each directory's final entries once, children before parents, '/' last (`dirPath` is
   * the absolute path's bytes): what the backup server's file index is built from.
   */
  onDirectory?: (dirPath: Buffer, nodes: TreeNode[]) => void;
  /** where warnings go as they happen (a run's bounded tally); default: the result's list */
  warnings?: WarningSink;
  /** pack bytes sent per second (--bwlimit), bursts of at most one second of it; none: as fast as the network goes */
  bwlimit?: number;
  /** aborts the backup (a canceled run): the walk stops and no snapshot is saved */
  signal?: AbortSignal;
  /** where the snapshot's refs spill sorted runs past what memory keeps (the agent's run temp dir); default: the OS's */
  tmpDir?: string;
  /** tuning (tests, benchmarks): bytes of file one task may read, and arenas in flight */
  segmentBytes?: number;
  arenas?: number;
  packSize?: number;
};

export type BackupResult = {
  snapshot: SnapshotRecord;
  /** the warnings, unless they went to the `warnings` sink given */
  warnings: ScanWarning[];
  /** files left out by --max-file-size (ScanRules) */
  largeSkipped: ScanRules['largeSkipped'];
};

const WORKER_ENTRY = new URL('./file-chunker-worker.ts', import.meta.url);
// Bytes in flight, sized from measurements (docs/performance.md, "Issue 15: agent memory"):
// an arena per worker plus two waiting to be sealed or read keep the workers busy; 4 MiB
// segments (+ the chunker's max) and two packs in upload bound the file and sealed bytes held.
const DEFAULT_SEGMENT = 4 * 1024 * 1024;
const ARENAS_BEYOND_WORKERS = 2;
const PACKS_IN_FLIGHT = 2;
const PROGRESS_INTERVAL_MS = 100;

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const plan = planPaths(opts.paths);
  const workers = opts.workers ?? availableParallelism();
  const { client, vault, keys, chunker } = opts;
  const kept: ScanWarning[] = [];
  const warnings = opts.warnings ?? kept;
  const rules = new ScanRules(opts);
  const counters: WalkCounters = { files: 0, dirs: 0, bytes: 0, currentPath: undefined };
  const readStats = new ReadStats(() => onProgress?.(progress()));

  const segment = Math.max(opts.segmentBytes ?? DEFAULT_SEGMENT, chunker.max);
  const arenas = new ArenaPool(segment + chunker.max, opts.arenas ?? workers + ARENAS_BEYOND_WORKERS);
  const ring = new SealRing();
  const workerData: ChunkerWorkerData = { keys, chunker, arenas: arenas.buffers, sealRing: ring.shared };
  const pool = new WorkerPool<WorkerTask, WorkerResult>(WORKER_ENTRY, { size: workers, workerData });
  const referenced = new SnapshotRefs({ tmpDir: opts.tmpDir });
  const dedup = new DedupBatcher((ids) => client.missing(vault, ids));
  const pace = opts.bwlimit === undefined ? undefined : new RateLimiter(opts.bwlimit, { signal: opts.signal });
  let bytesSent = 0;
  const uploader = new PackUploader(
    async (buffers, size) => {
      // paced slices count as they go out (a slow link shows its progress), the rest at the end
      let counted = 0;
      const counting = pace && {
        sliceBytes: pace.sliceBytes,
        take: async (n: number) => {
          await pace.take(n);
          counted += n;
          bytesSent += n;
        },
      };
      await client.postPack(vault, buffers, size, counting);
      bytesSent += Math.max(0, size - counted);
    },
    // CAIRN_TEST_PACK_BYTES: a small pack target, so a test reaches the packs' memory ceiling at a small size
    { targetSize: opts.packSize ?? testCount('PACK_BYTES', DEFAULT_PACK_SIZE), maxInFlight: PACKS_IN_FLIGHT },
  );
  const sealer = new BlobSealer({ keys, pool, dedup, uploader, referenced, arenas, ring });
  const fileSaver = new FileSaver({ pool, sealer, arenas, chunker, warnings, stats: readStats });
  const treeSaver = new TreeSaver({ keys, chunker, gear: gearTable(keys.chunkerKey), sealer });
  const refTrees = new ReferenceTrees(treeLoader(client, vault, keys));
  const walker = new TreeWalker({
    fileSaver,
    treeSaver,
    sealer,
    refTrees,
    warnings,
    counters,
    forceRead: opts.forceRead ?? false,
    poolIdle: () => pool.hasIdleWorker,
    onDirectory: opts.onDirectory,
    rules,
    signal: opts.signal,
  });

  const counts = (): SnapshotRecord['summary'] => ({
    files: counters.files,
    dirs: counters.dirs,
    bytes: counters.bytes,
    filesChanged: readStats.filesChanged,
    bytesRead: readStats.bytesRead,
    bytesNew: uploader.bytesNew,
  });
  let stage: 'walking' | 'uploading' | 'finishing' = 'walking';
  const phase = (): BackupPhase => (stage !== 'walking' ? stage : readStats.bytesRead > 0 || readStats.filesChanged > 0 ? 'reading' : 'scanning');
  const onProgress = opts.onProgress;
  const progress = (): BackupProgress => ({
    ...counts(),
    bytesSent,
    phase: phase(),
    currentPath: counters.currentPath === undefined ? undefined : displayPath(counters.currentPath),
  });
  const ticker = onProgress ? setInterval(() => onProgress(progress()), PROGRESS_INTERVAL_MS) : undefined;
  ticker?.unref();

  onProgress?.(progress()); // the scan has begun: a console sees it however short it is
  const unwatchHeap = watchHeap();
  try {
    const previous = opts.parent?.tree.map((h) => Buffer.from(h, 'hex'));
    const walk = await walker.walkRoot(plan, previous);
    await fileSaver.drain();
    stage = 'uploading';
    onProgress?.(progress());
    const tree = await walk.tree;
    await sealer.drain();
    await uploader.flush();
    opts.signal?.throwIfAborted();
    stage = 'finishing';
    onProgress?.(progress());
    const snapshot: SnapshotRecord = {
      version: 1,
      id: newSnapshotId(),
      time: new Date().toISOString(),
      host: opts.host,
      paths: [...opts.paths],
      tree: tree.map((id) => id.toString('hex')),
      ...(opts.parent ? { parent: opts.parent.id } : {}),
      summary: counts(),
    };
    await saveSnapshot(client, vault, keys, snapshot, { count: referenced.size, slices: referenced.sorted() });
    onProgress?.(progress());
    return { snapshot, warnings: kept, largeSkipped: rules.largeSkipped };
  } finally {
    if (ticker) clearInterval(ticker);
    unwatchHeap();
    referenced.close();
    await pool.close();
  }
}

/** FileSaver's counters; the first bytes read start the `reading` phase at once, not at the next tick. */
class ReadStats implements FileSaverStats {
  filesChanged = 0;
  #bytesRead = 0;
  readonly #firstRead: () => void;

  constructor(firstRead: () => void) {
    this.#firstRead = firstRead;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  set bytesRead(n: number) {
    const first = this.#bytesRead === 0 && n > 0;
    this.#bytesRead = n;
    if (first) this.#firstRead();
  }
}

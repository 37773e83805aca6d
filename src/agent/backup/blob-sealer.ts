// From chunk ids to stored blobs. Every chunk id the scan produces comes here: ids already
// handled in this run (or reused from the reference snapshot) are dropped at once, the rest are
// asked about in batches (DedupBatcher), and only the ones the storage lacks are compressed and
// sealed: data chunks by a worker, into the seal ring (their bytes never come back to the main
// thread), tree chunks here (small). Sealed blobs go to the PackUploader. All of this runs
// behind the scan; drain() waits for it and reports the first failure.
// Every id is recorded here as it is first seen, before it is queried or sealed (SnapshotRefs:
// bounded memory, exact, so an id waiting in an unsent pack is never sealed twice).
import { BLOB_DATA, BLOB_TREE, SEAL_OVERHEAD, sealBlobParts } from '../../core/blob.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { ENTRY_HEADER_SIZE } from '../../core/pack.ts';
import type { WorkerPool } from '../worker-pool.ts';
import type { ArenaPool } from './arena-pool.ts';
import type { ChunkResult, SealResult, SealTask, WorkerResult, WorkerTask } from './chunk-messages.ts';
import type { DedupBatcher } from './dedup-batcher.ts';
import type { PackUploader } from './pack-uploader.ts';
import { type SealRing, SealedOutput } from './seal-ring.ts';
import type { SnapshotRefs } from './snapshot-refs.ts';

export type BlobSealerDeps = {
  keys: VaultKeys;
  pool: WorkerPool<WorkerTask, WorkerResult>;
  dedup: DedupBatcher;
  uploader: PackUploader;
  referenced: SnapshotRefs;
  arenas: ArenaPool;
  ring: SealRing;
};

export class BlobSealer {
  #d: BlobSealerDeps;
  #pending = new Set<Promise<void>>();
  #failure: unknown;
  /** chunks sealed and handed to the uploader */
  blobsNew = 0;

  constructor(deps: BlobSealerDeps) {
    this.#d = deps;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Data chunks of a chunk task that read into `arena`; `keep(i)` excludes chunks of pieces that
   * failed. The arena is given back once the new chunks are sealed.
   */
  submitData(arena: number, result: ChunkResult, keep: (chunk: number) => boolean): void {
    const candidates: number[] = [];
    const count = result.refs.length / 2;
    for (let i = 0; i < count; i++) {
      if (keep(i) && this.#reference(idAt(result.ids, i))) candidates.push(i);
    }
    if (candidates.length === 0) {
      this.#d.arenas.release(arena);
      return;
    }
    this.#track(this.#sealData(arena, result, candidates));
  }

  /** Tree chunks: ids and plaintext pieces of one encoded tree. */
  submitTree(ids: Buffer[], pieces: Buffer[]): void {
    const fresh: number[] = [];
    ids.forEach((id, i) => {
      if (this.#reference(id)) fresh.push(i);
    });
    if (fresh.length > 0) this.#track(this.#sealTree(ids, pieces, fresh));
  }

  /** Ids known to be stored (referenced by the reference snapshot): recorded, never queried. */
  markPresent(ids: Iterable<Buffer>): void {
    for (const id of ids) this.#reference(id);
  }

  /** Waits for every query, seal and hand-over started so far. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending]);
    }
    this.throwIfFailed();
  }

  /** Adds the id to the snapshot's refs: true when new (to be queried and maybe sealed). */
  #reference(id: Buffer): boolean {
    try {
      return this.#d.referenced.add(id);
    } catch (e) {
      // a spill that failed (disk full): the backup stops here
      this.#failure ??= e;
      this.#d.arenas.fail(e);
      throw e;
    }
  }

  #track(work: Promise<void>): void {
    const p = work.then(
      () => {
        this.#pending.delete(p);
      },
      (e: unknown) => {
        this.#pending.delete(p);
        this.#failure ??= e;
        this.#d.arenas.fail(e);
      },
    );
    this.#pending.add(p);
  }

  async #sealData(arena: number, result: ChunkResult, candidates: number[]): Promise<void> {
    const missing = await this.#d.dedup.missing(candidates.map((i) => idAt(result.ids, i)));
    const fresh = candidates.filter((_, k) => missing[k]);
    if (fresh.length === 0) {
      this.#d.arenas.release(arena);
      return;
    }
    const refs = new Int32Array(fresh.length * 2);
    const ids = new Uint8Array(fresh.length * 32);
    fresh.forEach((i, k) => {
      refs.set(result.refs.subarray(i * 2, i * 2 + 2), k * 2);
      ids.set(result.ids.subarray(i * 32, i * 32 + 32), k * 32);
    });
    // Wait for the uploader before sealing, still holding the arena: the scan then waits for
    // the network too, and sealed bytes never pile up in packs queued behind a slow upload.
    await this.#d.uploader.waitForRoom();
    let outLength = 0;
    for (let k = 0; k < fresh.length; k++) outLength += ENTRY_HEADER_SIZE + refs[k * 2 + 1]! + SEAL_OVERHEAD;
    // The ring full: the worker seals into memory of its own. (Waiting for uploads to free room
    // instead stalled the scan: 0.3–0.4 s more on the bench set, docs/performance.md.)
    const region = this.#d.ring.take(outLength);
    let sealed: SealResult;
    try {
      // Urgent: sealing frees arenas, reading fills them.
      const task: SealTask = { kind: 'seal', type: BLOB_DATA, arena, refs, ids, out: region?.start ?? -1, outLength };
      sealed = (await this.#d.pool.run(task, [], true)) as SealResult;
    } catch (e) {
      region?.output.release();
      throw e;
    }
    this.#d.arenas.release(arena);
    if (region) this.#d.ring.shrink(region.start, sealed.used);
    const output = region?.output ?? SealedOutput.owned(Buffer.from(sealed.buffer!));
    try {
      this.throwIfFailed(); // a failed backup uploads nothing more
      const { entries } = sealed;
      for (let k = 0; k < fresh.length; k++) this.#d.uploader.addEntry(output.buffer.subarray(entries[k * 2]!, entries[k * 2]! + entries[k * 2 + 1]!), output);
    } finally {
      output.release(); // the packs holding its entries keep it now
    }
    this.blobsNew += fresh.length;
  }

  async #sealTree(ids: Buffer[], pieces: Buffer[], fresh: number[]): Promise<void> {
    const missing = await this.#d.dedup.missing(fresh.map((i) => ids[i]!));
    this.throwIfFailed();
    fresh.forEach((i, k) => {
      if (!missing[k]) return;
      this.#d.uploader.add(BLOB_TREE, ids[i]!, sealBlobParts(this.#d.keys, BLOB_TREE, ids[i]!, pieces[i]!));
      this.blobsNew++;
    });
    await this.#d.uploader.waitForRoom();
  }
}

function idAt(ids: Uint8Array, i: number): Buffer {
  return Buffer.from(ids.buffer, ids.byteOffset + i * 32, 32);
}

// Where a backup's chunker workers write the blobs they seal: one ring of memory shared with
// every worker (a SharedArrayBuffer made once per run). Before a seal task the main thread takes
// a region with room for its blobs' worst case; the worker writes them there as whole pack entries,
// back to back; the region keeps what they used and stays pinned until every pack holding one of
// them is uploaded. Each blob used to be sealed into a buffer of its own, moved to the main thread
// and freed after its pack went out: a gigabyte of fresh mappings per GiB backed up, faulted in
// page by page, and the external memory that made V8 run a full collection every ~50 MB
// (docs/performance.md, "tenth part"). When the ring is full, the worker seals into a buffer of
// its own (SealedOutput.owned), as before.
import { freeOwned } from '../../core/free-owned.ts';
import { RingRegions } from '../ring-regions.ts';

/**
 * Bytes of the ring. What it would take never to be full: the packs in upload and the one being
 * filled (~16 MiB each) and the seal tasks under way (≤ an arena each), ~64 MiB; all of it stays
 * resident once the ring went round. 40 MiB seals ~3/4 of the bench set's tasks here for ~8 MiB
 * more peak RSS than sealing each blob into its own buffer (docs/performance.md, "tenth part").
 */
export const SEAL_RING_BYTES = 40 * 1024 * 1024;

/**
 * Sealed blobs of one seal task: in a region of the ring or in a buffer of their own. Pinned by
 * whoever still needs its bytes (its sealer, each pack holding one of them); freed when the
 * last lets go.
 */
export class SealedOutput {
  readonly buffer: Buffer;
  #pins = 1;
  readonly #onFree: () => void;

  constructor(buffer: Buffer, onFree: () => void) {
    this.buffer = buffer;
    this.#onFree = onFree;
  }

  /** A buffer the worker sealed into itself (the ring was full): freed once unpinned. */
  static owned(buffer: Buffer): SealedOutput {
    return new SealedOutput(buffer, () => freeOwned(buffer));
  }

  retain(): void {
    this.#pins++;
  }

  release(): void {
    if (--this.#pins === 0) this.#onFree();
  }
}

export class SealRing {
  readonly shared: SharedArrayBuffer;
  readonly #regions: RingRegions;

  constructor(size = SEAL_RING_BYTES) {
    this.shared = new SharedArrayBuffer(size);
    this.#regions = new RingRegions(size);
  }

  /** A region of `length` bytes pinned once (by the caller), or undefined when the ring has no room now. */
  take(length: number): { start: number; output: SealedOutput } | undefined {
    const start = this.#regions.take(length);
    if (start < 0) return undefined;
    return { start, output: new SealedOutput(Buffer.from(this.shared, start, length), () => this.#regions.free(start)) };
  }

  /** The region at `start` keeps only its first `used` bytes (the rest returns to the ring). */
  shrink(start: number, used: number): void {
    this.#regions.shrink(start, used);
  }

  /** Bytes in regions still pinned (for tests). */
  get outBytes(): number {
    return this.#regions.outBytes;
  }
}

// The plaintexts a restore's fetching worker opens go into one ring of memory it shares with the
// main thread (a SharedArrayBuffer): the main thread writes each straight from the ring and says
// when it is done, and the worker opens later blobs into the room that frees. Nothing is
// allocated, moved between threads or faulted in once the ring went round once; the pool of
// buffers moved back and forth (plain-buffers.ts) that it replaces allocated about half of a
// restore's plaintext afresh (chunks of every size, a free buffer fitting only some), each a new
// mapping faulted in page by page (docs/performance.md, "ninth part"). What does not fit (the
// ring full of plaintexts still being written) gets a buffer from the fallback.
import type { OutputBuffers } from '../../core/compress.ts';
import { RingRegions } from '../ring-regions.ts';

/**
 * Bytes of each fetching worker's ring. A region is given back only once written, and a write
 * waits its turn: the ring holds the plaintext not yet acknowledged (the worker's credit, 8 MiB),
 * what was handed to writes and not yet written (up to the restore's write budget, 16 MiB), and
 * the chunks held back for their files' earlier ones. With 16 MiB about a third of a 1 GiB
 * restore's plaintext did not fit and went to fresh fallback buffers; with 32 MiB, 4-13%: a
 * third fewer page faults and ~6% less agent CPU (docs/performance.md, "twelfth part").
 */
export const RING_BYTES = 32 * 1024 * 1024;

/** FetchOutcome's `buffer` for a plaintext in the worker's ring. */
export const IN_RING = -2;

export class PlainRing implements OutputBuffers {
  readonly shared: SharedArrayBuffer;
  readonly #fallback: OutputBuffers;
  readonly #regions: RingRegions;

  constructor(shared: SharedArrayBuffer, fallback: OutputBuffers) {
    this.shared = shared;
    this.#fallback = fallback;
    this.#regions = new RingRegions(shared.byteLength);
  }

  /** Whether `view` lies in the ring (its plaintext goes to the main thread as an offset, not a buffer). */
  holds(view: Uint8Array): boolean {
    return view.buffer === this.shared;
  }

  take(length: number): Buffer {
    const start = this.#regions.take(length);
    if (start < 0) return this.#fallback.take(length);
    return Buffer.from(this.shared, start, length);
  }

  give(view: Buffer): void {
    if (this.holds(view)) this.free(view.byteOffset);
    else this.#fallback.give(view);
  }

  /** The region starting at `offset` is no longer in use (the main thread wrote it). */
  free(offset: number): void {
    this.#regions.free(offset);
  }

  /** Bytes in regions not yet given back (for tests). */
  get outBytes(): number {
    return this.#regions.outBytes;
  }
}

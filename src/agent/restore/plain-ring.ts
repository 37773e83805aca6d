// The plaintexts a restore's fetching worker opens go into one ring of memory it shares with the
// main thread (a SharedArrayBuffer): the main thread writes each straight from the ring and says
// when it is done, and the worker opens later blobs into the room that frees. Nothing is
// allocated, moved between threads or faulted in once the ring went round once; the pool of
// buffers moved back and forth (plain-buffers.ts) that it replaces allocated about half of a
// restore's plaintext afresh (chunks of every size, a free buffer fitting only some), each a new
// mapping faulted in page by page (docs/performance.md, "ninth part"). What does not fit (the
// ring full of plaintexts still being written) gets a buffer from the fallback.
import type { OutputBuffers } from '../../core/compress.ts';

/** Bytes of each fetching worker's ring: more than the plaintext a worker may have out (its credit) and the message being gathered. */
export const RING_BYTES = 16 * 1024 * 1024;

/** FetchOutcome's `buffer` for a plaintext in the worker's ring. */
export const IN_RING = -2;

/** Regions are placed at multiples of this (aligned copies; room for a few headers' worth of waste). */
const ALIGN = 64;

export class PlainRing implements OutputBuffers {
  readonly shared: SharedArrayBuffer;
  readonly #fallback: OutputBuffers;
  /** regions in the order they were taken: [start, end) and whether they are free again */
  readonly #regions: { start: number; end: number; free: boolean }[] = [];
  /** the offset of each region still out → its entry */
  readonly #out = new Map<number, { start: number; end: number; free: boolean }>();
  #head = 0;

  constructor(shared: SharedArrayBuffer, fallback: OutputBuffers) {
    this.shared = shared;
    this.#fallback = fallback;
  }

  /** Whether `view` lies in the ring (its plaintext goes to the main thread as an offset, not a buffer). */
  holds(view: Uint8Array): boolean {
    return view.buffer === this.shared;
  }

  take(length: number): Buffer {
    const start = this.#place(length);
    if (start < 0) return this.#fallback.take(length);
    const region = { start, end: start + length, free: false };
    this.#regions.push(region);
    this.#out.set(start, region);
    this.#head = align(region.end);
    return Buffer.from(this.shared, start, length);
  }

  give(view: Buffer): void {
    if (this.holds(view)) this.free(view.byteOffset);
    else this.#fallback.give(view);
  }

  /** The region starting at `offset` is no longer in use (the main thread wrote it). */
  free(offset: number): void {
    const region = this.#out.get(offset);
    if (!region) return;
    this.#out.delete(offset);
    region.free = true;
    while (this.#regions.length && this.#regions[0]!.free) this.#regions.shift();
    if (!this.#regions.length) this.#head = 0; // empty: start again at the beginning
  }

  /** Bytes in regions not yet given back (for tests). */
  get outBytes(): number {
    let n = 0;
    for (const r of this.#out.values()) n += r.end - r.start;
    return n;
  }

  /**
   * Where `length` bytes fit after the newest region without reaching the oldest one still in
   * use; -1 if nowhere. The next region starts aligned after this one, and never at the oldest
   * one's start while that is in use (equal offsets would read as an empty ring).
   */
  #place(length: number): number {
    const size = this.shared.byteLength;
    if (length === 0 || length > size) return -1;
    const oldest = this.#regions[0];
    if (!oldest) return 0;
    const tail = oldest.start;
    const room = align(length);
    if (this.#head > tail) {
      // in use: [tail, head); room after head, else from the start up to tail
      if (size - this.#head >= length) return this.#head;
      return room < tail ? 0 : -1;
    }
    // wrapped (in use: [tail, size) and [0, head)): room between head and tail
    return this.#head + room < tail ? this.#head : -1;
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

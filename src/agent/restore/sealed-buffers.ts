// The buffers a restore's fetching worker assembles sealed blobs in, reused: each is free again
// once its blob was opened (opening is synchronous and its output never aliases its input), so a
// restore does not allocate, fault in and collect a fresh buffer for every sealed blob.
//
// Blobs arrive faster than the worker opens them in bursts (several whole blobs come in one turn
// of the socket: up to 9-16 lent at once in a restore of the bench set), and they come in every
// size up to the largest chunk. So a few buffers are kept, and when the kept ones are full the
// smallest makes way for a larger one given back: what is kept comes to fit the largest blobs.
// Two kept the first that came back: ~100 of a 1 GiB restore's ~2,500 blobs got a fresh
// buffer; four kept this way, ~50 (docs/performance.md, "twelfth part"). A buffer not kept is
// freed at once: left to the collector, ~50 MB of them per GiB restored waited for a collection.
import { freeOwned } from '../../core/free-owned.ts';

/** Buffers are sized in steps of this; smaller blobs than SEALED_POOLED_MIN get buffers of their own. */
const SEALED_STEP = 512 * 1024;
const SEALED_POOLED_MIN = 64 * 1024;
/** Free buffers kept for the next blobs. */
export const SEALED_KEPT = 4;

export class SealedBuffers {
  readonly #free: Buffer[] = [];
  readonly #lent = new Map<ArrayBufferLike, Buffer>();

  /** A buffer for a sealed blob of `length` bytes: the smallest free one it fits, else a new one. */
  take = (length: number): Buffer => {
    if (length < SEALED_POOLED_MIN) return Buffer.allocUnsafe(length);
    let at = -1;
    for (let i = 0; i < this.#free.length; i++) if (this.#free[i]!.length >= length && (at < 0 || this.#free[i]!.length < this.#free[at]!.length)) at = i;
    const whole = at >= 0 ? this.#free.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(Math.ceil(length / SEALED_STEP) * SEALED_STEP);
    this.#lent.set(whole.buffer, whole);
    return whole.subarray(0, length);
  };

  /** Takes back a blob's buffer if it is one of ours (a blob lying inside one read is a slice of that read instead). */
  give(sealed: Uint8Array): void {
    const whole = this.#lent.get(sealed.buffer);
    if (!whole) return;
    this.#lent.delete(sealed.buffer);
    if (this.#free.length < SEALED_KEPT) {
      this.#free.push(whole);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.length < this.#free[smallest]!.length) smallest = i;
    let dropped = whole;
    if (this.#free[smallest]!.length < whole.length) {
      dropped = this.#free[smallest]!;
      this.#free[smallest] = whole;
    }
    // freed now, not left to the collector: no view of it is in use (lent ones came back)
    freeOwned(dropped);
  }

  /** Sizes of the free buffers (for tests). */
  get kept(): number[] {
    return this.#free.map((b) => b.length);
  }
}

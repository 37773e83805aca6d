// The buffers a restore's fetching worker opens plaintexts into, reused: a large plaintext goes to
// the main thread in its own buffer (moved, not copied), and once its chunks are written the main
// thread moves that buffer back here instead of freeing it. A fresh buffer for every chunk was a
// new mapping at the 64 KiB mmap threshold (bin/cairn), faulted in and zeroed by the kernel page
// by page: ~a third of the worker's system time (docs/performance.md, "eighth part").
import type { OutputBuffers } from '../../core/compress.ts';
import { freeOwned } from '../../core/free-owned.ts';

/** Plaintexts shorter than this get a buffer of their own from the malloc heap (they are copied into a shared message buffer anyway). */
export const POOLED_MIN = 64 * 1024;
/** New buffers are sized in steps of this. */
const STEP = 128 * 1024;
/** A free buffer serves a plaintext only if it is at most this many times its size (the rest would sit unused in flight). */
const SLACK = 2;

export class PlainBuffers implements OutputBuffers {
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;
  private readonly keepBytes: number;

  /** `keepBytes`: free buffers kept beyond this are freed, the smallest first. */
  constructor(keepBytes: number) {
    this.keepBytes = keepBytes;
  }

  take(length: number): Buffer {
    if (length < POOLED_MIN) return Buffer.allocUnsafeSlow(length);
    let at = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = this.free[i]!.byteLength;
      if (size >= length && size <= SLACK * length && (at < 0 || size < this.free[at]!.byteLength)) at = i;
    }
    if (at < 0) return Buffer.allocUnsafeSlow(Math.ceil(length / STEP) * STEP);
    const [buffer] = this.free.splice(at, 1);
    this.freeBytes -= buffer!.byteLength;
    return Buffer.from(buffer!);
  }

  /** Takes back a buffer no one uses any more (any view of it: the whole buffer comes back). */
  give(view: Uint8Array): void {
    const buffer = view.buffer;
    if (buffer instanceof ArrayBuffer && this.free.includes(buffer)) return; // free already
    if (!(buffer instanceof ArrayBuffer) || buffer.detached || buffer.byteLength < POOLED_MIN || buffer.byteLength === Buffer.poolSize) {
      freeOwned(view);
      return;
    }
    this.free.push(buffer);
    this.freeBytes += buffer.byteLength;
    while (this.freeBytes > this.keepBytes) {
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.byteLength < this.free[smallest]!.byteLength) smallest = i;
      const [dropped] = this.free.splice(smallest, 1);
      this.freeBytes -= dropped!.byteLength;
      dropped!.transfer(0);
    }
  }

  /** Bytes held free (for tests). */
  get held(): number {
    return this.freeBytes;
  }
}

// Frees a buffer's memory at once instead of at V8's next full collection. A backup or restore
// moves about a gigabyte of short-lived buffers per GiB; left to the collector, the dead ones
// made V8 run dozens of full collections per run (external memory is what triggers them) and
// left glibc's heap fragmented (docs/performance.md, "Issue 15, fourth part").

/**
 * Frees the memory behind `view` now by detaching its ArrayBuffer (`transfer(0)`): afterwards
 * every view of that buffer is empty. The caller must own the buffer, with no other view of it
 * still in use. SharedArrayBuffers and anything that may be one of Node's small-buffer pool
 * slabs (shared by unrelated Buffers; each is exactly `Buffer.poolSize` bytes, which Cairn never
 * changes) are never freed; nor are buffers too small to matter.
 */
export function freeOwned(view: Uint8Array): void {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer) || buffer.detached) return;
  if (buffer.byteLength === Buffer.poolSize || buffer.byteLength < MIN_FREED) return;
  buffer.transfer(0);
}

/** Smaller buffers are left to the collector: freeing them gains little. */
const MIN_FREED = 4096;

/** Whether `view` is the whole of its ArrayBuffer (no other part of that buffer can be someone else's). */
export function spansItsBuffer(view: Uint8Array): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/**
 * One buffer a thread reuses for a synchronous step whose result is used before the step runs
 * again: grown as needed (at least doubling, from 64 KiB) up to `keptMax`; a larger request gets a
 * buffer of its own, which `holds` then does not own and the caller frees.
 */
export class ScratchBuffer {
  #buffer = Buffer.alloc(0);
  readonly #keptMax: number;

  constructor(keptMax: number) {
    this.#keptMax = keptMax;
  }

  get(length: number): Buffer {
    if (length > this.#keptMax) return Buffer.allocUnsafeSlow(length);
    if (this.#buffer.length < length)
      this.#buffer = Buffer.allocUnsafeSlow(Math.min(this.#keptMax, Math.max(length, 2 * this.#buffer.length, 64 * 1024)));
    return this.#buffer;
  }

  /** Whether `view` lies in the kept buffer (not the caller's to free). */
  holds(view: Uint8Array): boolean {
    return view.buffer === this.#buffer.buffer;
  }
}

/**
 * Frees a buffer (or hands it on) once every holder let go: the one that made the lease holds it
 * (one hold), and whoever keeps a view of the buffer past a synchronous call (a queued or pending
 * write) holds it too. A hold never released only leaves the buffer to the collector; a release
 * without a hold would free bytes still in use, so hold and release in pairs.
 */
export class BufferLease {
  readonly #buffer: Uint8Array;
  readonly #done: (buffer: Uint8Array) => void;
  #holds = 1;

  /** `done`: what becomes of the buffer once the last hold goes (freed unless said otherwise). */
  constructor(buffer: Uint8Array, done: (buffer: Uint8Array) => void = freeOwned) {
    this.#buffer = buffer;
    this.#done = done;
  }

  hold(): void {
    this.#holds++;
  }

  release(): void {
    if (--this.#holds === 0) this.#done(this.#buffer);
  }
}

// A fixed set of equal-sized read buffers ("arenas"), SharedArrayBuffers created up front and
// handed to every worker once. An arena is taken by a chunk task, filled by a worker, held
// while its new chunks wait to be sealed, then given back. Their number bounds the file bytes
// in flight: when sealing or uploading lags, acquire() makes the scan wait (back-pressure).
// Pages of an arena not yet written are not resident, so unused arenas cost address space only.
export class ArenaPool {
  readonly arenaSize: number;
  readonly buffers: SharedArrayBuffer[];
  #free: number[];
  #waiters: { resolve: (arena: number) => void; reject: (e: unknown) => void }[] = [];
  #failure: unknown;

  constructor(arenaSize: number, count: number) {
    this.arenaSize = arenaSize;
    this.buffers = Array.from({ length: count }, () => new SharedArrayBuffer(arenaSize));
    this.#free = this.buffers.map((_, i) => count - 1 - i);
  }

  acquire(): Promise<number> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const free = this.#free.pop();
    if (free !== undefined) return Promise.resolve(free);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  release(arena: number): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(arena);
    else this.#free.push(arena);
  }

  /** The pipeline failed: whoever waits for an arena must stop waiting. */
  fail(e: unknown): void {
    this.#failure ??= e;
    for (const w of this.#waiters.splice(0)) w.reject(e);
  }
}

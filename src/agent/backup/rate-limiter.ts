// A token bucket for a backup's --bwlimit: bytes per second, with a bucket of one second of the
// rate, so at most that much goes out in a burst (after an idle second) and the average over any
// longer span stays at the rate. Every uploader of a run shares one limiter.
//
// take() reserves its bytes at once, even when the bucket does not hold them yet (the count goes
// below zero), and waits until the rate has paid that debt: callers are served in the order they
// asked, without a queue, and several uploads in flight share the rate. A take larger than the
// bucket is refused: the caller sends in slices of at most `sliceBytes`. An aborted signal ends
// every wait at once with its reason (a canceled run does not sit out its debt).
import { CairnError } from '../../core/errors.ts';

/** The most a take asks for when the bucket allows it: small enough for a smooth rate. */
const SLICE_BYTES = 64 * 1024;

export type RateLimiterOptions = { signal?: AbortSignal; now?: () => number };

export class RateLimiter {
  readonly bytesPerSecond: number;
  /** the bucket: one second of the rate */
  readonly burst: number;
  /** the largest take a sender should ask for */
  readonly sliceBytes: number;
  #tokens: number;
  #stamp: number;
  readonly #signal: AbortSignal | undefined;
  readonly #now: () => number;

  constructor(bytesPerSecond: number, options: RateLimiterOptions = {}) {
    if (!Number.isSafeInteger(bytesPerSecond) || bytesPerSecond < 1)
      throw new CairnError('E_USAGE', `bandwidth limit must be a whole number of bytes per second, got ${bytesPerSecond}`);
    this.bytesPerSecond = bytesPerSecond;
    this.burst = bytesPerSecond;
    this.sliceBytes = Math.min(SLICE_BYTES, this.burst);
    this.#signal = options.signal;
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.burst;
    this.#stamp = this.#now();
  }

  /** Resolves when `bytes` (at most `burst`) may be sent; rejects with the signal's reason when it aborts. */
  async take(bytes: number): Promise<void> {
    if (bytes > this.burst) throw new CairnError('E_USAGE', `a take of ${bytes} bytes exceeds the bucket of ${this.burst}`);
    this.#signal?.throwIfAborted();
    const wait = this.reserve(bytes);
    if (wait <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const signal = this.#signal;
      const onAbort = () => {
        clearTimeout(timer);
        this.#tokens += bytes; // never sent: later takes need not pay for it
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.ceil(wait));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Takes `bytes` from the bucket (refilled up to `now`); the milliseconds until they are paid for. */
  reserve(bytes: number): number {
    const now = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#stamp) * this.bytesPerSecond) / 1000);
    this.#stamp = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.bytesPerSecond;
  }
}

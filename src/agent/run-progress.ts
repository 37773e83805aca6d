// The progress a run sends to the backup server (SPEC "Monitoring and alerts"): about once a
// second, and at once when the phase changes (so a console sees every phase, in order, however
// short). The sender also works out the rate (the phase's work over the last RATE_WINDOW_MS) and
// the time left, which is null until the run knows how much work is left: a backup from its
// previous snapshot's size, an upload from the bytes still queued, a restore from its plan, a
// verify from the snapshot. It never walks anything to find out.
import type { ProgressData, RunPhase } from '../protocol/control.ts';

/** Progress events go out about this often (phase changes at once). */
export const PROGRESS_EVERY_MS = 1000;
/** The rate is measured over this much of the recent past. */
export const RATE_WINDOW_MS = 10_000;

/** The phase's work so far (bytes) and, when known, how much there is in all. */
export type Work = { done: number; total?: number };

/** Rate and time left from samples of a phase's work over the last RATE_WINDOW_MS. */
export class RateMeter {
  #samples: { t: number; done: number }[] = [];

  /** Forgets the samples (a new phase measures other work). */
  reset(): void {
    this.#samples = [];
  }

  /** Adds a sample at `t` (ms) and answers the rate and time left as of it. */
  sample(t: number, work: Work): { rateBytesPerSec: number; etaSeconds: number | null } {
    this.#samples.push({ t, done: work.done });
    // keep one sample at or before the window's start, so the rate spans the whole window
    while (this.#samples.length > 2 && this.#samples[1]!.t <= t - RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const span = (t - first.t) / 1000;
    const rate = span >= 0.25 ? Math.max(0, work.done - first.done) / span : 0;
    const left = work.total === undefined ? undefined : Math.max(0, work.total - work.done);
    const eta = left === undefined ? null : left === 0 ? 0 : rate > 0 ? Math.ceil(left / rate) : null;
    return { rateBytesPerSec: Math.round(rate), etaSeconds: eta };
  }
}

/** Sends the progress events of one run. */
export class ProgressSender {
  readonly #send: (data: ProgressData) => void;
  readonly #now: () => number;
  readonly #meter = new RateMeter();
  #last = -Infinity;
  #phase: RunPhase | undefined;

  constructor(send: (data: ProgressData) => void, now: () => number = () => performance.now()) {
    this.#send = send;
    this.#now = now;
  }

  /**
   * Offers the run's state in `phase`; it goes out when a second has passed since the last one,
   * when the phase changed, or when `force`d (a run's last counters).
   */
  offer(phase: RunPhase, data: ProgressData, work?: Work, force = false): void {
    const t = this.#now();
    const changed = phase !== this.#phase;
    if (changed) this.#meter.reset();
    this.#phase = phase;
    const measured = work === undefined ? { rateBytesPerSec: 0, etaSeconds: null } : this.#meter.sample(t, work);
    if (!force && !changed && t - this.#last < PROGRESS_EVERY_MS) return;
    this.#last = t;
    this.#send({ ...data, ...measured, phase });
  }
}

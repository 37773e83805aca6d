// An agent spends most of its life idle between runs, and a backup or restore leaves its
// process holding what the run's buffers and worker threads used. When a run ends and no other
// executes, one full collection frees the dead ArrayBuffers (the worker pools are already
// closed) so that glibc can return their pages: at once, so the next run (a bench phase, a
// queued job) starts from what is live, and again once the agent has been idle for a moment;
// measured in docs/performance.md ("Issue 15: agent memory", "fourteenth part").
import { testDuration } from '../core/test-settings.ts';
import { collectAll } from './gc-nudge.ts';

/** The second collection waits this long after the last run ends (what went on ending after the first). */
const IDLE_COLLECT_MS = 2_000;

export class IdleMemory {
  readonly #running: () => number;
  readonly #collect: () => void;
  readonly #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #soon: NodeJS.Immediate | undefined;

  /** `running()`: how many runs execute now; `collect`: the full collection (tests watch it). */
  constructor(running: () => number, collect: () => void = collectAll) {
    this.#running = running;
    this.#collect = collect;
    this.#delayMs = testDuration('AGENT_IDLE_COLLECT', IDLE_COLLECT_MS);
  }

  /**
   * A run ended: collect on the next turn, once its end has been sent (a 1 GiB restore or backup
   * left 30-40 MiB of rings and arenas dead until then, which a run started within the idle
   * delay added to its own peak), and again when the agent has been idle for a moment.
   */
  runEnded(): void {
    this.#soon ??= setImmediate(() => {
      this.#soon = undefined;
      this.#collectIfIdle();
    });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#collectIfIdle();
    }, this.#delayMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    if (this.#soon) clearImmediate(this.#soon);
    this.#soon = undefined;
  }

  #collectIfIdle(): void {
    if (this.#running() === 0) this.#collect();
  }
}

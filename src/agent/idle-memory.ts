// An agent spends most of its life idle between runs, and a backup or restore leaves its
// process holding what the run's buffers and worker threads used. When the last run ends and
// none starts for a moment, one full collection frees the dead ArrayBuffers (the worker pools
// are already closed) so that glibc can return their pages; measured in docs/performance.md
// ("Issue 15: agent memory").
import { testDuration } from '../core/test-settings.ts';
import { collectAll } from './gc-nudge.ts';

/** Wait after the last run ends before collecting: a run that follows at once pays nothing. */
const IDLE_COLLECT_MS = 2_000;

export class IdleMemory {
  readonly #running: () => number;
  readonly #delayMs: number;
  #timer: NodeJS.Timeout | undefined;

  /** `running()`: how many runs execute now. */
  constructor(running: () => number) {
    this.#running = running;
    this.#delayMs = testDuration('AGENT_IDLE_COLLECT', IDLE_COLLECT_MS);
  }

  /** A run ended: collect once the agent has been idle for a moment. */
  runEnded(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running() === 0) collectAll();
    }, this.#delayMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

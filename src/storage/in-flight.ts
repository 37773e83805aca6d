// What a stopping storage server waits for before it closes its vaults: every data-plane request
// and control call still running, even one whose client went away (its handler may still be
// writing the chunk index). Once stopping, new work is refused as unavailable (503 on the data
// plane), so an agent fails that request cleanly and its run is retried, instead of a handler
// meeting a closed database.
import { CairnError } from '../core/errors.ts';

export class InFlight {
  readonly #running = new Set<Promise<unknown>>();
  #stopping = false;

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Runs `work` and counts it until it settles; E_UNAVAILABLE once stopping. */
  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#stopping) return Promise.reject(new CairnError('E_UNAVAILABLE', 'the storage server is shutting down'));
    const running = work();
    this.#running.add(running);
    const settled = () => this.#running.delete(running);
    running.then(settled, settled);
    return running;
  }

  /** Each handler counted by `run`. */
  wrap<A extends unknown[], T>(handlers: Record<string, (...args: A) => Promise<T>>): Record<string, (...args: A) => Promise<T>> {
    return Object.fromEntries(Object.entries(handlers).map(([name, handle]) => [name, (...args: A) => this.run(() => handle(...args))]));
  }

  /** Refuses new work from now on. */
  stop(): void {
    this.#stopping = true;
  }

  /** Stops, then resolves once nothing runs, or after `graceMs` with how many still do. */
  async drained(graceMs: number): Promise<number> {
    this.stop();
    const deadline = Date.now() + graceMs;
    while (this.#running.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())));
      await Promise.race([Promise.allSettled([...this.#running]), late]);
      clearTimeout(timer);
    }
    return this.#running.size;
  }
}

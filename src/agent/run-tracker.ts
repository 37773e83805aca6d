// The agent's runs (backup, restore, verify) as the backup server re-attaches to them
// (docs/control-plane.md "Runs that outlive the link"). A run is started by a call the agent
// answers at once; its outcome goes back later as `runEnded {run, result | error}`. This module
// keeps, in memory only:
//   - the runs executing, each with the controller a `cancel` or a stop aborts;
//   - the ends not yet answered by the server, sent when the run ends (if the link is up), again
//     after every welcome, and a little later when the server answered E_UNAVAILABLE.
// What it does not do: survive the agent's own restart (a run and its unsent end die with the
// process; the server sees the run missing from the next hello and fails it as lost), or start a
// run twice (a run id executing or with an end pending is answered "accepted" and nothing starts).
import { CairnError, isCairnError } from '../core/errors.ts';
import type { RunEndedParams } from '../protocol/control.ts';
import { errorToInfo } from '../protocol/control-rpc.ts';

export type RunTrackerOptions = {
  /** sends one end to the server (`runEnded`); resolves once the server answered */
  report: (end: RunEndedParams) => Promise<unknown>;
  /** true while the control link is up: an end is sent the moment its run ends only then */
  online: () => boolean;
  log: (line: string) => void;
  /** wait before re-sending an end the server answered E_UNAVAILABLE on a live link */
  retryMs?: number;
  /** a run ended (also when the agent is stopping): its kind, how long it took, and its end (the agent's metrics) */
  ended?: (what: string, ms: number, end: RunEndedParams) => void;
};

type Running = { controller: AbortController; done: Promise<void> };

/** What a run answers when it is started: the same whether it started now or already ran. */
export type Accepted = { accepted: true };

const RETRY_MS = 10_000;

export class RunTracker {
  readonly #o: RunTrackerOptions;
  readonly #running = new Map<number, Running>();
  /** ends not yet answered, by run id, in the order the runs ended */
  readonly #ended = new Map<number, RunEndedParams>();
  /** ends whose runEnded call is on its way */
  readonly #sending = new Set<number>();
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: RunTrackerOptions) {
    this.#o = o;
  }

  /**
   * Starts `body` as run `run` unless that run is executing or its end is still pending; either
   * way the answer is {accepted: true}. A run aborted by `cancel` ends with the abort's reason
   * (E_CONFLICT 'canceled'), any other failure with its own error.
   */
  start(run: number, what: string, body: (signal: AbortSignal) => Promise<unknown>): Accepted {
    if (this.#stopped) throw new CairnError('E_UNAVAILABLE', `the agent is stopping; run ${run} not started`);
    if (this.#running.has(run) || this.#ended.has(run)) return { accepted: true };
    const controller = new AbortController();
    const started = performance.now();
    const done = (async () => {
      let end: RunEndedParams;
      try {
        end = { run, result: await body(controller.signal) };
      } catch (e) {
        const error = controller.signal.aborted ? controller.signal.reason : e;
        if (!controller.signal.aborted) this.#o.log(`run ${run} (${what}) failed: ${(error as Error).message}`);
        end = { run, error: errorToInfo(error) };
      }
      this.#running.delete(run);
      this.#o.ended?.(what, performance.now() - started, end);
      if (this.#stopped) return; // a stopping agent reports nothing: the server fails the run as lost
      this.#ended.set(run, end);
      if (this.#o.online()) this.#send(end);
    })();
    this.#running.set(run, { controller, done });
    return { accepted: true };
  }

  /** Aborts run `run` with `reason`; false when it is not executing. */
  abort(run: number, reason: unknown): boolean {
    const running = this.#running.get(run);
    running?.controller.abort(reason);
    return running !== undefined;
  }

  /** Runs executing now. */
  running(): number[] {
    return [...this.#running.keys()];
  }

  /** What the hello names: the runs executing and those whose end the server has not answered. */
  unfinished(): number[] {
    return [...new Set([...this.#running.keys(), ...this.#ended.keys()])].sort((a, b) => a - b);
  }

  /** Sends every pending end not already on its way (the link just came up). */
  flush(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const end of this.#ended.values()) this.#send(end);
  }

  /** Aborts every run with `reason` and waits for them; their ends and the pending ones are dropped. */
  async stop(reason: unknown): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    for (const r of this.#running.values()) r.controller.abort(reason);
    await Promise.all([...this.#running.values()].map((r) => r.done));
    this.#ended.clear();
  }

  #send(end: RunEndedParams): void {
    if (this.#sending.has(end.run) || this.#stopped) return;
    this.#sending.add(end.run);
    this.#o.report(end).then(
      () => {
        this.#sending.delete(end.run);
        this.#ended.delete(end.run);
      },
      (e: unknown) => {
        this.#sending.delete(end.run);
        this.#failed(end, e);
      },
    );
  }

  /**
   * E_UNAVAILABLE (the link dropped, or the server could not record it now): kept, re-sent after
   * the next welcome or RETRY_MS later. Anything else is a refusal that would come again: a result
   * the server (or the frame limit) refuses is replaced by that error once, so the run still ends;
   * an error end refused is dropped and logged.
   */
  #failed(end: RunEndedParams, e: unknown): void {
    if (!this.#ended.has(end.run)) return;
    if (isCairnError(e, 'E_UNAVAILABLE')) {
      if (this.#o.online() && !this.#retryTimer && !this.#stopped) {
        this.#retryTimer = setTimeout(() => this.flush(), this.#o.retryMs ?? RETRY_MS);
        this.#retryTimer.unref();
      }
      return;
    }
    const why = errorToInfo(e);
    if (end.error === undefined) {
      this.#o.log(`run ${end.run}: its result was refused (${why.message}); reporting the run failed instead`);
      const failed: RunEndedParams = { run: end.run, error: { code: why.code, message: `result not recorded: ${why.message}` } };
      this.#ended.set(end.run, failed);
      if (this.#o.online()) this.#send(failed);
      return;
    }
    this.#o.log(`run ${end.run}: the server refused its end (${why.message}); not sent again`);
    this.#ended.delete(end.run);
  }
}

// An agent's Prometheus metrics (docs/metrics.md): bytes read from its disks (what its runs'
// progress events and results count as `bytesRead`), bytes sent to storage servers (request
// bodies of the data plane, counted as they go out), and how long its runs took, by kind. One
// registry per agent process, served by core/metrics-endpoint.ts when `--metrics-listen` is given.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { newRegistry } from '../core/metrics-endpoint.ts';
import type { RunEndedParams } from '../protocol/control.ts';

/** Runs last from seconds to a day: buckets from 1 s to 24 h. */
const RUN_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600];

export class AgentMetrics {
  readonly registry: Registry;
  readonly #read: Counter;
  readonly #sent: Counter;
  readonly #durations: Histogram<'kind' | 'outcome'>;
  /** how many runs execute now (told once the agent's run tracker exists) */
  readonly #runs: { running?: () => number } = {};
  /** bytesRead each running run has reported so far: its counters are cumulative, the metric adds the growth */
  readonly #readSoFar = new Map<number, number>();

  constructor() {
    const registers = [(this.registry = newRegistry())];
    this.#read = new Counter({ name: 'cairn_agent_bytes_read_total', help: "Bytes of files the agent's runs read from disk", registers });
    this.#sent = new Counter({ name: 'cairn_agent_bytes_sent_total', help: 'Bytes the agent sent to storage servers (data-plane request bodies)', registers });
    this.#durations = new Histogram({
      name: 'cairn_agent_run_duration_seconds',
      help: 'How long runs took on this agent, by kind (backup, restore, verify) and outcome (succeeded, failed)',
      labelNames: ['kind', 'outcome'],
      buckets: RUN_BUCKETS,
      registers,
    });
    const runs = this.#runs;
    new Gauge({
      name: 'cairn_agent_runs_running',
      help: 'Runs executing on this agent now',
      registers,
      collect() {
        this.set(runs.running?.() ?? 0);
      },
    });
  }

  /** Where the count of running runs comes from. */
  countRunning(running: () => number): void {
    this.#runs.running = running;
  }

  sent(bytes: number): void {
    this.#sent.inc(bytes);
  }

  /** A run's progress event: its cumulative bytesRead, when it carries one. */
  progress(run: number, data: unknown): void {
    const bytesRead = (data as { bytesRead?: unknown } | null)?.bytesRead;
    if (typeof bytesRead === 'number') this.#addRead(run, bytesRead);
  }

  ended(kind: string, ms: number, end: RunEndedParams): void {
    const bytesRead = (end.result as { bytesRead?: unknown } | undefined)?.bytesRead;
    if (typeof bytesRead === 'number') this.#addRead(end.run, bytesRead);
    this.#readSoFar.delete(end.run);
    this.#durations.observe({ kind, outcome: end.error === undefined ? 'succeeded' : 'failed' }, ms / 1000);
  }

  #addRead(run: number, total: number): void {
    const before = this.#readSoFar.get(run) ?? 0;
    if (total > before) this.#read.inc(total - before);
    this.#readSoFar.set(run, Math.max(before, total));
  }
}

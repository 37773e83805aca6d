// The backup server's Prometheus metrics (docs/metrics.md). What the catalog knows (runs by
// kind and status, the queue, the storage figures) is read at scrape time, so the figures are
// those of the catalog and survive a restart; parts online come from the control hub's links;
// API latency is observed by the router as requests are answered. One registry per server
// process, served by core/metrics-endpoint.ts when `--metrics-listen` is given.
import { Gauge, Histogram, type Registry } from 'prom-client';
import { newRegistry } from '../core/metrics-endpoint.ts';
import { num, type PartKindName, partTable, type ServerContext } from './context.ts';

const RUN_KINDS = ['backup', 'restore', 'verify', 'copy', 'gc'];
const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const PART_KINDS: PartKindName[] = ['agent', 'storage'];

export type ServerMetrics = {
  registry: Registry;
  /** the router's observe hook */
  observeApi: (method: string, route: string, code: number, seconds: number) => void;
};

export function serverMetrics(ctx: ServerContext): ServerMetrics {
  const registers = [newRegistry()];
  new Gauge({
    name: 'cairn_runs',
    help: 'Runs in the catalog by kind and status (every pair shown, 0 when none)',
    labelNames: ['kind', 'status'],
    registers,
    async collect() {
      const rows = await ctx.db.query<{ kind: string; status: string; n: number }>('SELECT kind, status, COUNT(*) AS n FROM runs GROUP BY kind, status');
      this.reset();
      for (const kind of RUN_KINDS) for (const status of RUN_STATUSES) this.set({ kind, status }, 0);
      for (const r of rows) this.set({ kind: r.kind, status: r.status }, num(r.n));
    },
  });
  new Gauge({
    name: 'cairn_queue_length',
    help: 'Runs queued, waiting to start',
    registers,
    async collect() {
      const rows = await ctx.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM runs WHERE status = 'queued'");
      this.set(num(rows[0]?.n ?? 0));
    },
  });
  new Gauge({
    name: 'cairn_parts_online',
    help: 'Enrolled parts with a live control link, by kind (agent, storage)',
    labelNames: ['kind'],
    registers,
    async collect() {
      for (const kind of PART_KINDS) {
        const names = await ctx.db.query<{ name: string }>(`SELECT name FROM ${partTable(kind)} WHERE removed_at IS NULL`);
        this.set({ kind }, names.filter((p) => ctx.hub.isOnline({ kind, name: p.name })).length);
      }
    },
  });
  new Gauge({
    name: 'cairn_parts',
    help: 'Enrolled parts (not removed), by kind (agent, storage)',
    labelNames: ['kind'],
    registers,
    async collect() {
      for (const kind of PART_KINDS) {
        const rows = await ctx.db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${partTable(kind)} WHERE removed_at IS NULL`);
        this.set({ kind }, num(rows[0]?.n ?? 0));
      }
    },
  });
  const figure = (name: string, help: string, column: 'bytes_stored' | 'disk_free' | 'disk_total') =>
    new Gauge({
      name,
      help,
      labelNames: ['storage'],
      registers,
      async collect() {
        const rows = await ctx.db.query<{ name: string; v: number }>(`SELECT name, ${column} AS v FROM storages WHERE removed_at IS NULL AND ${column} IS NOT NULL`);
        this.reset();
        for (const r of rows) this.set({ storage: r.name }, num(r.v));
      },
    });
  figure('cairn_storage_bytes_stored', 'Pack bytes a storage server holds, as it last reported them', 'bytes_stored');
  figure('cairn_storage_disk_free_bytes', "Bytes free on a storage server's disk, as it last reported them", 'disk_free');
  figure('cairn_storage_disk_total_bytes', "Size of a storage server's disk, as it last reported it", 'disk_total');
  new Gauge({
    name: 'cairn_event_stream_clients',
    help: 'Consoles attached to the event stream',
    registers,
    collect() {
      this.set(ctx.events.clients);
    },
  });
  const api = new Histogram({
    name: 'cairn_api_request_duration_seconds',
    help: 'REST API requests by method, route pattern and HTTP status, and how long they took',
    labelNames: ['method', 'route', 'code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  return {
    registry: registers[0]!,
    observeApi: (method, route, code, seconds) => api.observe({ method, route, code: String(code) }, seconds),
  };
}

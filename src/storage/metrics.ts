// A storage server's Prometheus metrics (docs/metrics.md): vault sizes and packs and disk space,
// read from the index and statfs at scrape time; data-plane requests counted by route and HTTP
// status; the last scrub's and the last gc's results as they happen. One registry per storage
// server process, served by core/metrics-endpoint.ts when `--metrics-listen` is given.
import { Counter, Gauge, type Registry } from 'prom-client';
import { newRegistry } from '../core/metrics-endpoint.ts';
import type { GcResult } from '../protocol/control.ts';
import type { ScrubReport } from '../protocol/data-plane.ts';
import { diskSpace, vaultTotals } from './figures.ts';
import type { VaultStore } from './vault-store.ts';

export class StorageMetrics {
  readonly registry: Registry;
  /** the store to measure, once it is open (scrapes before that show no vaults) */
  readonly #measured: { store?: VaultStore } = {};
  readonly #requests: Counter<'route' | 'code'>;
  readonly #scrubDamaged: Gauge;
  readonly #scrubAt: Gauge;
  readonly #gcFreed: Gauge;
  readonly #gcAt: Gauge;

  constructor() {
    const registers = [(this.registry = newRegistry())];
    const measured = this.#measured;
    new Gauge({
      name: 'cairn_vault_bytes',
      help: 'Bytes of pack files a vault holds',
      labelNames: ['vault'],
      registers,
      async collect() {
        this.reset();
        for (const v of measured.store ? await vaultTotals(measured.store) : []) this.set({ vault: v.name }, v.bytesStored);
      },
    });
    new Gauge({
      name: 'cairn_vault_packs',
      help: 'Pack files a vault holds',
      labelNames: ['vault'],
      registers,
      async collect() {
        this.reset();
        for (const v of measured.store ? await vaultTotals(measured.store) : []) this.set({ vault: v.name }, v.packs);
      },
    });
    const disk = (name: string, help: string, pick: 'freeBytes' | 'totalBytes') =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          if (measured.store) this.set((await diskSpace(measured.store.dataDir))[pick]);
        },
      });
    disk('cairn_storage_disk_free_bytes', 'Bytes free for the storage server on the disk of its data folder', 'freeBytes');
    disk('cairn_storage_disk_total_bytes', 'Size in bytes of the disk of the data folder', 'totalBytes');
    this.#requests = new Counter({ name: 'cairn_storage_requests_total', help: 'Data-plane requests answered, by route and HTTP status', labelNames: ['route', 'code'], registers });
    this.#scrubDamaged = new Gauge({ name: 'cairn_scrub_last_damaged', help: 'Damaged packs the last scrub found (0 before any scrub)', registers });
    this.#scrubAt = new Gauge({ name: 'cairn_scrub_last_timestamp_seconds', help: 'When the last scrub ended (0 before any)', registers });
    this.#gcFreed = new Gauge({ name: 'cairn_gc_last_bytes_freed', help: 'Bytes the last gc freed (or would free, on an append-only server awaiting confirmation)', registers });
    this.#gcAt = new Gauge({ name: 'cairn_gc_last_timestamp_seconds', help: 'When the last gc ended (0 before any)', registers });
  }

  /** Measures `store` from now on. */
  attach(store: VaultStore): void {
    this.#measured.store = store;
  }

  /** One data-plane request answered; `route` is the route's name (`unknown` when none matched). */
  request(route: string, code: number): void {
    this.#requests.inc({ route, code: String(code) });
  }

  scrubbed(report: ScrubReport): void {
    this.#scrubDamaged.set(report.damagedTotal);
    this.#scrubAt.set(Date.now() / 1000);
  }

  collected(result: GcResult): void {
    this.#gcFreed.set(result.bytesFreed);
    this.#gcAt.set(Date.now() / 1000);
  }
}

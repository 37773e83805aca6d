// What the backup server knows of the network to its parts (docs/control-plane.md "Network
// monitoring"). Heartbeats land here and stay in memory: the last one's time and round-trip time,
// and the open minute and hour buckets of each part (net-buckets.ts). The catalog is written
// only when a bucket closes (one transaction for every part's samples, with each part's last
// heartbeat so that `lastSeen` survives a restart), and old samples are pruned when an hour
// closes: a heartbeat alone never writes. Online/offline transitions are parts.ts's to record.
import { now } from '../core/test-settings.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { iso, num, type PartKindName, partTable } from './context.ts';
import { type Bucket, bucketStart, netScale, roll, type Sample, usToMs, windowPercentiles } from './net-buckets.ts';

type PartKey = { kind: PartKindName; name: string };

type Live = PartKey & {
  id: number;
  online: boolean;
  /** the last heartbeat (or the catalog's last_seen until one comes), now()'s ms */
  lastSeen: number | null;
  rttUs: number | null;
  /** the lastSeen the catalog holds */
  written: number | null;
  minute: Bucket;
  hour: Bucket;
  /** closed minute buckets of the last hour, oldest first */
  window: Bucket[];
};

export type LiveContact = { lastSeen: number | null; rttUs: number | null };

/**
 * A part's last heartbeat and RTT as consoles see them: from memory while this process hears
 * the part, else as the catalog last kept them (its last_seen and rtt_ms columns).
 */
export function contactJson(live: LiveContact | undefined, stored: { last_seen: number | null; rtt_ms: number | null }): { lastSeen: string | null; rttMs: number | null } {
  return {
    lastSeen: iso(live?.lastSeen ?? stored.last_seen),
    rttMs: live?.rttUs != null ? usToMs(live.rttUs) : stored.rtt_ms === null ? null : num(stored.rtt_ms),
  };
}

function keyOf(p: PartKey): string {
  return `${p.kind}:${p.name}`;
}

export class NetMonitor {
  readonly #db: CatalogDriver;
  readonly #log: (line: string) => void;
  readonly #scale = netScale();
  readonly #parts = new Map<string, Live>();
  #pending: { live: Live; sample: Sample }[] = [];
  #prunedHour = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(db: CatalogDriver, log: (line: string) => void) {
    this.#db = db;
    this.#log = log;
  }

  /** Every enrolled part, offline until its link says hello; then the flushes begin. */
  async start(): Promise<void> {
    for (const kind of ['agent', 'storage'] as const) {
      const rows = await this.#db.query<{ id: number; name: string; last_seen: number | null }>(`SELECT id, name, last_seen FROM ${partTable(kind)} WHERE removed_at IS NULL`);
      for (const r of rows) this.#entry({ kind, name: r.name }, Number(r.id), r.last_seen === null ? null : Number(r.last_seen));
    }
    this.#timer = setInterval(() => void this.flush(), Math.max(25, this.#scale.minute / 4));
    this.#timer.unref();
  }

  online(part: PartKey, id: number): void {
    const live = this.#entry(part, id, null);
    live.online = live.minute.online = live.hour.online = true;
  }

  offline(part: PartKey): void {
    const live = this.#parts.get(keyOf(part));
    if (live) live.online = false;
  }

  /** A removed part: no more samples. */
  forget(part: PartKey): void {
    this.#parts.delete(keyOf(part));
  }

  heartbeat(part: PartKey, rttMs: number): void {
    const live = this.#parts.get(keyOf(part));
    if (!live) return;
    const at = now();
    this.#roll(live, at);
    const rtt = Math.max(0, Math.round(rttMs * 1000));
    live.lastSeen = at;
    live.rttUs = rtt;
    live.minute.rtts.push(rtt);
    live.hour.rtts.push(rtt);
  }

  /** The last heartbeat and its RTT (undefined for a part not known to this process). */
  contact(part: PartKey): LiveContact | undefined {
    const live = this.#parts.get(keyOf(part));
    return live && { lastSeen: live.lastSeen, rttUs: live.rttUs };
  }

  /** p50 and p99 of the RTTs of the last hour (µs). */
  percentiles(part: PartKey): { p50Us: number | null; p99Us: number | null } {
    const live = this.#parts.get(keyOf(part));
    if (!live) return { p50Us: null, p99Us: null };
    const from = now() - this.#scale.hour;
    const { p50, p99 } = windowPercentiles([...live.window.filter((b) => b.start >= from), live.minute]);
    return { p50Us: p50, p99Us: p99 };
  }

  /** Closes the buckets whose time has passed and writes them, with each part's last heartbeat, in one transaction. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write()).catch((e: unknown) => this.#log(`network samples not written: ${(e as Error).message}`));
    return this.#flushing;
  }

  /** Stops the flushes after writing the last heartbeats (open buckets are not closed early). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  #entry(part: PartKey, id: number, lastSeen: number | null): Live {
    const key = keyOf(part);
    let live = this.#parts.get(key);
    if (!live) {
      const at = now();
      const empty = (size: number): Bucket => ({ start: bucketStart(at, size), rtts: [], online: false });
      live = { ...part, id, online: false, lastSeen, rttUs: null, written: lastSeen, minute: empty(this.#scale.minute), hour: empty(this.#scale.hour), window: [] };
      this.#parts.set(key, live);
    }
    live.id = id; // a name enrolled again is another row
    return live;
  }

  #roll(live: Live, at: number): void {
    const m = roll(live.minute, at, this.#scale.minute, live.online);
    if (m.closed) {
      this.#pending.push({ live, sample: m.closed });
      live.window.push(live.minute);
      const from = at - this.#scale.hour;
      while (live.window[0] && live.window[0].start < from) live.window.shift();
    }
    live.minute = m.bucket;
    const h = roll(live.hour, at, this.#scale.hour, live.online);
    if (h.closed) this.#pending.push({ live, sample: h.closed });
    live.hour = h.bucket;
  }

  async #write(): Promise<void> {
    const at = now();
    for (const live of this.#parts.values()) this.#roll(live, at);
    const samples = this.#pending;
    this.#pending = [];
    const seen = [...this.#parts.values()].filter((l) => l.lastSeen !== l.written);
    const hour = bucketStart(at, this.#scale.hour);
    const prune = hour !== this.#prunedHour;
    if (samples.length === 0 && seen.length === 0 && !prune) return;
    await this.#db.transaction(async (tx) => {
      for (const { live, sample: s } of samples)
        await tx.run(
          'INSERT INTO net_samples (part_kind, part_id, bucket_ms, time, rtt_us, rtt_p99_us, heartbeats, online) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
          [live.kind, live.id, s.bucketMs, s.time, s.rttUs, s.rttP99Us, s.heartbeats, s.online ? 1 : 0],
        );
      for (const live of seen)
        await tx.run(`UPDATE ${partTable(live.kind)} SET last_seen = ?, rtt_ms = ? WHERE id = ?`, [live.lastSeen, live.rttUs === null ? null : Math.round(live.rttUs / 1000), live.id]);
      if (prune) {
        const s = this.#scale;
        await tx.run('DELETE FROM net_samples WHERE (bucket_ms = ? AND time < ?) OR (bucket_ms = ? AND time < ?)', [s.minute, at - s.keepMinutes, s.hour, at - s.keepHours]);
        await tx.run('DELETE FROM net_history WHERE time < ?', [at - s.keepHours]);
      }
    });
    for (const live of seen) live.written = live.lastSeen;
    if (prune) this.#prunedHour = hour;
  }
}

// What consoles read of the network: `net status` (each part's live figures from the network
// monitor, with the catalog's view for parts this process has not heard), `net history` (the
// downsampled samples: minutes within 24 h, hours beyond) and the throughput each backup,
// restore and net test measured between an agent and a storage server. A `user` sees its own
// agents and every storage server (its jobs name them); another owner's agent is not there.
import { CairnError } from '../core/errors.ts';
import { now } from '../core/test-settings.ts';
import type { NetSampleJson, NetStatusJson, ThroughputJson } from '../protocol/api-types.ts';
import type { DataTransfer } from '../protocol/control.ts';
import type { Caller } from './auth/accounts.ts';
import { checkOwner, iso, num, type PartKindName, partTable, type ServerContext } from './context.ts';
import { netScale, usToMs } from './net-buckets.ts';
import { contactJson } from './net-monitor.ts';
import type { RunRow } from './runs.ts';

type StatusRow = { name: string; last_seen: number | null; rtt_ms: number | null; status_since: number | null; owner_id?: number | null };

function visible(caller: Caller, kind: PartKindName, ownerId: number | null | undefined): boolean {
  return kind === 'storage' || caller.role !== 'user' || (ownerId != null && num(ownerId) === caller.id);
}

export async function netStatus(ctx: ServerContext, caller: Caller): Promise<NetStatusJson[]> {
  const out: NetStatusJson[] = [];
  for (const kind of ['agent', 'storage'] as const) {
    const rows = await ctx.db.query<StatusRow>(
      `SELECT name, last_seen, rtt_ms, status_since${kind === 'agent' ? ', owner_id' : ''} FROM ${partTable(kind)} WHERE removed_at IS NULL ORDER BY name`,
    );
    for (const r of rows) {
      if (!visible(caller, kind, r.owner_id)) continue;
      const part = { kind, name: r.name };
      const { p50Us, p99Us } = ctx.net.percentiles(part);
      out.push({
        name: r.name,
        kind,
        status: ctx.hub.isOnline(part) ? 'online' : 'offline',
        ...contactJson(ctx.net.contact(part), r),
        rttP50Ms: usToMs(p50Us),
        rttP99Ms: usToMs(p99Us),
        since: iso(r.status_since),
      });
    }
  }
  return out;
}

/** `agent:NAME` or `storage:NAME` → the part's kind, name and id, checked against the caller. */
export async function partByRef(ctx: ServerContext, caller: Caller, ref: string): Promise<{ kind: PartKindName; name: string; id: number }> {
  const m = /^(agent|storage):(.+)$/.exec(ref);
  if (!m) throw new CairnError('E_BAD_REQUEST', `part must be agent:NAME or storage:NAME, not ${JSON.stringify(ref.slice(0, 80))}`);
  const kind = m[1] as PartKindName;
  const name = m[2]!;
  const rows = await ctx.db.query<{ id: number; owner_id?: number | null }>(`SELECT * FROM ${partTable(kind)} WHERE name = ? AND removed_at IS NULL`, [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no ${kind} named ${name}`);
  if (kind === 'agent') checkOwner(caller, rows[0].owner_id ?? null, `agent named ${name}`);
  return { kind, name, id: num(rows[0].id) };
}

type SampleRow = { time: number; rtt_us: number | null; rtt_p99_us: number | null; online: number };

/** Samples since `sinceMs` ago, oldest first: hourly ones older than the minutes' 24 h, then the minutes. */
export async function netHistory(ctx: ServerContext, caller: Caller, ref: string, sinceMs: number): Promise<NetSampleJson[]> {
  const part = await partByRef(ctx, caller, ref);
  const scale = netScale();
  const at = now();
  const from = at - sinceMs;
  const minutesFrom = Math.max(from, at - scale.keepMinutes);
  const select = 'SELECT time, rtt_us, rtt_p99_us, online FROM net_samples WHERE part_kind = ? AND part_id = ? AND bucket_ms = ? AND time >= ? AND time < ? ORDER BY time';
  const hours = from < minutesFrom ? await ctx.db.query<SampleRow>(select, [part.kind, part.id, scale.hour, from, minutesFrom]) : [];
  const minutes = await ctx.db.query<SampleRow>(select, [part.kind, part.id, scale.minute, minutesFrom, at]);
  return [...hours, ...minutes].map((r) => ({ time: iso(r.time)!, rttMs: usToMs(r.rtt_us === null ? null : num(r.rtt_us)), rttP99Ms: usToMs(r.rtt_p99_us === null ? null : num(r.rtt_p99_us)), online: num(r.online) === 1 }));
}

/** Records a backup's or restore's transfer (nothing when the agent reported none, or it moved nothing). */
export async function recordTransfer(ctx: ServerContext, run: RunRow, kind: 'backup' | 'restore', transfer: DataTransfer | undefined): Promise<void> {
  if (!transfer || !(transfer.bytes > 0) || !(transfer.ms >= 0)) return;
  await ctx.db.run(
    'INSERT INTO net_throughput (agent_id, storage_id, run_id, kind, time, bytes, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
    [run.agent_id, run.storage_id, run.id, kind, now(), Math.round(transfer.bytes), Math.max(1, Math.round(transfer.ms))],
  );
}

type ThroughputRow = { time: number; kind: ThroughputJson['kind']; agent: string; storage: string; bytes: number; duration_ms: number; run_id: number | null };

export async function listThroughput(ctx: ServerContext, caller: Caller, filter: { agent?: string; storage?: string }): Promise<ThroughputJson[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.agent !== undefined) {
    const agent = await partByRef(ctx, caller, `agent:${filter.agent}`);
    where.push('t.agent_id = ?');
    params.push(agent.id);
  }
  if (filter.storage !== undefined) {
    where.push('t.storage_id = ?');
    params.push((await partByRef(ctx, caller, `storage:${filter.storage}`)).id);
  }
  if (caller.role === 'user') {
    where.push('a.owner_id = ?');
    params.push(caller.id);
  }
  const rows = await ctx.db.query<ThroughputRow>(
    `SELECT t.time, t.kind, a.name AS agent, s.name AS storage, t.bytes, t.duration_ms, t.run_id FROM net_throughput t
       JOIN agents a ON a.id = t.agent_id JOIN storages s ON s.id = t.storage_id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY t.time DESC, t.id DESC LIMIT 1000`,
    params,
  );
  return rows.map((r) => {
    const seconds = num(r.duration_ms) / 1000;
    return { time: iso(r.time)!, kind: r.kind, agent: r.agent, storage: r.storage, bytes: num(r.bytes), seconds, bytesPerSec: Math.round(num(r.bytes) / seconds), run: r.run_id === null ? null : num(r.run_id) };
  });
}

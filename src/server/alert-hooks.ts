// Webhooks in the catalog (alert_hooks): adding one (its secret is made here and answered once),
// the list `alert list` shows (last delivery, pending and dropped counts, never the secret),
// removal (its waiting deliveries go with it), and the live hooks that asked for an event.
import { randomBytes } from 'node:crypto';
import { CairnError } from '../core/errors.ts';
import { type AlertEvent, type AlertHookJson, hookUrlProblem, isAlertEvent, type NewAlertHookJson } from '../protocol/alerts.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { iso, num } from './context.ts';

type HookRow = {
  id: number;
  url: string;
  events: string;
  secret: string;
  created_at: number;
  last_time: number | null;
  last_event: string | null;
  last_status: string | null;
  last_attempts: number | null;
  dropped: number;
};

/** The URL as a receiver is called at: http or https, nothing else (E_BAD_REQUEST naming it). */
export function checkHookUrl(text: string): string {
  const problem = hookUrlProblem(text);
  if (problem !== undefined) throw new CairnError('E_BAD_REQUEST', `url: ${problem}`);
  return new URL(text).href;
}

function hookJson(r: HookRow, pending: number): AlertHookJson {
  const status = r.last_status === null ? null : /^\d{3}$/.test(r.last_status) ? Number(r.last_status) : r.last_status;
  return {
    id: num(r.id),
    url: r.url,
    events: r.events.split(',') as AlertEvent[],
    createdAt: iso(r.created_at)!,
    lastDelivery:
      r.last_time === null || status === null ? null : { time: iso(r.last_time)!, event: r.last_event as AlertEvent, status, attempts: num(r.last_attempts ?? 0) },
    pending,
    dropped: num(r.dropped),
  };
}

async function pendingCounts(db: CatalogDriver): Promise<Map<number, number>> {
  const rows = await db.query<{ hook_id: number; n: number }>('SELECT hook_id, COUNT(*) AS n FROM alert_queue GROUP BY hook_id');
  return new Map(rows.map((r) => [num(r.hook_id), num(r.n)]));
}

export async function addHook(db: CatalogDriver, caller: Caller, body: { url: string; events: string[] }): Promise<NewAlertHookJson> {
  const url = checkHookUrl(body.url);
  const unknown = body.events.filter((e) => !isAlertEvent(e));
  if (unknown.length) throw new CairnError('E_BAD_REQUEST', `events: unknown event ${unknown[0]!.slice(0, 60)}`);
  const events = [...new Set(body.events)];
  const secret = randomBytes(32).toString('hex');
  const { lastId } = await db.run('INSERT INTO alert_hooks (url, events, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?)', [url, events.join(','), secret, caller.id, Date.now()]);
  const rows = await db.query<HookRow>('SELECT * FROM alert_hooks WHERE id = ?', [lastId!]);
  return { ...hookJson(rows[0]!, 0), secret };
}

export async function listHooks(db: CatalogDriver): Promise<AlertHookJson[]> {
  const rows = await db.query<HookRow>('SELECT * FROM alert_hooks WHERE removed_at IS NULL ORDER BY id');
  const pending = await pendingCounts(db);
  return rows.map((r) => hookJson(r, pending.get(num(r.id)) ?? 0));
}

export function parseHookId(text: string): number {
  const id = Number(text);
  if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(id) || id <= 0) throw new CairnError('E_NOT_FOUND', `no alert ${text.slice(0, 40)}`);
  return id;
}

/** Removes a live hook and its waiting deliveries (E_NOT_FOUND when there is none). */
export async function removeHook(db: CatalogDriver, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const { changes } = await tx.run('UPDATE alert_hooks SET removed_at = ? WHERE id = ? AND removed_at IS NULL', [Date.now(), id]);
    if (changes === 0) throw new CairnError('E_NOT_FOUND', `no alert ${id}`);
    await tx.run('DELETE FROM alert_queue WHERE hook_id = ?', [id]);
  });
}

/** The live hooks that asked for `event`. */
export async function hooksFor(db: CatalogDriver, event: AlertEvent): Promise<number[]> {
  const rows = await db.query<{ id: number; events: string }>('SELECT id, events FROM alert_hooks WHERE removed_at IS NULL');
  return rows.filter((r) => r.events.split(',').includes(event)).map((r) => num(r.id));
}

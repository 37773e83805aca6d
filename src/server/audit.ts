// The audit log: who did what, from where, to what, and how it ended. The router writes one row
// per request that changes something or is refused, BEFORE the handler acts (result `started`),
// and then updates that same row's result (one row per request, not two); the server's own work
// (scheduled runs, retention forgets, gc, certificate renewals) is written with who `scheduler`.
// Kept in the catalog so it survives restarts; read by auditors through GET /api/audit.
import { existsSync } from 'node:fs';
import { CairnError } from '../core/errors.ts';
import { testFile } from '../core/test-settings.ts';
import type { AuditRecordJson } from '../protocol/people.ts';
import type { CatalogDriver, SqlValue } from './catalog/driver.ts';

export type AuditEntry = { who: string; what: string; result: string; address?: string; action?: string; target?: string };
export type AuditRecord = AuditRecordJson;
export type AuditFilter = { limit?: number; since?: number; user?: string };

/** The result of an entry written before its request acted, until the router records the outcome. */
export const AUDIT_STARTED = 'started';
export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 10_000;
/** Long arguments (paths, lists) are cut: the log says what happened, it does not archive bodies. */
const MAX_FIELD = 2000;

function clip(s: string): string {
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD - 1)}…` : s;
}

/** Writes an entry and answers its id; throws when it cannot (the caller then does nothing). */
export async function audit(db: CatalogDriver, entry: AuditEntry, now: number = Date.now()): Promise<number> {
  // tests make the write fail while a file exists (CAIRN_TEST=1 and CAIRN_TEST_AUDIT_FAIL_FILE)
  const failFile = testFile('AUDIT_FAIL');
  if (failFile !== undefined && existsSync(failFile)) throw new CairnError('E_UNAVAILABLE', 'the audit log cannot be written (test setting)');
  const rows = await db.query<{ id: number }>('INSERT INTO audit_log (time, who, what, result, address, action, target) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id', [
    now, clip(entry.who), clip(entry.what), clip(entry.result), opt(entry.address), opt(entry.action), opt(entry.target),
  ]);
  return Number(rows[0]!.id);
}

/** Records how a request written before it acted ended (and who, once a login named them). */
export async function finishAudit(db: CatalogDriver, id: number, result: string, who?: string): Promise<void> {
  if (who === undefined) await db.run('UPDATE audit_log SET result = ? WHERE id = ?', [clip(result), id]);
  else await db.run('UPDATE audit_log SET result = ?, who = ? WHERE id = ?', [clip(result), clip(who), id]);
}

/** What the server does by itself (scheduled runs, retention, gc, certificate renewals), written before it acts. */
export async function auditScheduler(db: CatalogDriver, action: string, target: string, what: string = action): Promise<void> {
  await audit(db, { who: 'scheduler', what, result: 'ok', action, target });
}

function opt(s: string | undefined): string | null {
  return s === undefined || s === '' ? null : clip(s);
}

/** The most recent entries, newest first (ties in time: the later insert first), filtered. */
export async function listAudit(db: CatalogDriver, opts: AuditFilter = {}): Promise<AuditRecord[]> {
  const limit = opts.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT)
    throw new CairnError('E_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_AUDIT_LIMIT}`);
  const where: string[] = [];
  const args: SqlValue[] = [];
  if (opts.since !== undefined) {
    where.push('time >= ?');
    args.push(opts.since);
  }
  if (opts.user !== undefined) {
    where.push('who = ?');
    args.push(opts.user);
  }
  const rows = await db.query<{ time: number; who: string; what: string; result: string; address: string | null; action: string | null; target: string | null }>(
    `SELECT time, who, what, result, address, action, target FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ?`,
    [...args, limit],
  );
  return rows.map((r) => ({ time: new Date(Number(r.time)).toISOString(), who: r.who, what: r.what, result: r.result, address: r.address, action: r.action, target: r.target }));
}

/** Parses the query of GET /api/audit: since (an ISO time), user, limit; bad values are the caller's mistake. */
export function auditFilter(query: URLSearchParams): AuditFilter {
  const f: AuditFilter = {};
  const since = query.get('since');
  if (since !== null) {
    const t = Date.parse(since);
    if (!/^\d{4}-\d\d-\d\dT/.test(since) || !Number.isFinite(t)) throw new CairnError('E_BAD_REQUEST', `since: not an ISO 8601 time: ${since.slice(0, 80)}`);
    f.since = t;
  }
  const user = query.get('user');
  if (user !== null) {
    if (user === '' || user.length > 200) throw new CairnError('E_BAD_REQUEST', 'user: must be a name of 1 to 200 characters');
    f.user = user;
  }
  const limit = query.get('limit');
  if (limit !== null) {
    const n = /^\d{1,6}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_AUDIT_LIMIT)) throw new CairnError('E_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_AUDIT_LIMIT}`);
    f.limit = n;
  }
  return f;
}

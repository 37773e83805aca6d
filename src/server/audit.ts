// The audit log: who did what and how it ended, one row per action that changes something or
// touches a secret (the routes decide which). Kept in the catalog so it survives restarts and
// is read by auditors through GET /api/audit, newest first.
import { CairnError } from '../core/errors.ts';
import type { CatalogDriver } from './catalog/driver.ts';

export type AuditEntry = { who: string; what: string; result: string };
export type AuditRecord = AuditEntry & { time: string };

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 10_000;
/** Long arguments (paths, lists) are cut: the log says what happened, it does not archive bodies. */
const MAX_FIELD = 2000;

function clip(s: string): string {
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD - 1)}…` : s;
}

export async function audit(db: CatalogDriver, entry: AuditEntry, now: number = Date.now()): Promise<void> {
  await db.run('INSERT INTO audit_log (time, who, what, result) VALUES (?, ?, ?, ?)', [
    now, clip(entry.who), clip(entry.what), clip(entry.result),
  ]);
}

/** The most recent entries, newest first (ties in time: the later insert first). */
export async function listAudit(db: CatalogDriver, opts: { limit?: number } = {}): Promise<AuditRecord[]> {
  const limit = opts.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT)
    throw new CairnError('E_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_AUDIT_LIMIT}`);
  const rows = await db.query<{ time: number; who: string; what: string; result: string }>(
    'SELECT time, who, what, result FROM audit_log ORDER BY time DESC, id DESC LIMIT ?',
    [limit],
  );
  return rows.map((r) => ({ time: new Date(Number(r.time)).toISOString(), who: r.who, what: r.what, result: r.result }));
}

// Agents and storage servers as the catalog knows them: enrollment tokens, enrollment (the one
// transaction that checks the token, issues the certificate, records the part and burns the
// token), the list consoles see, removal, and what the control hub reports: online and offline
// transitions are written (status, status_since, net_history); heartbeats go to the network
// monitor in memory (net-monitor.ts), which writes the downsampled history.
import { agentKeyFingerprint, checkAgentPublicKey } from '../core/agent-keys.ts';
import { issuePartCertificate } from '../core/ca.ts';
import { certValidity } from '../core/cert-life.ts';
import { CairnError } from '../core/errors.ts';
import { checkPartName } from '../core/part-identity.ts';
import { certificateFingerprint } from '../core/tls.ts';
import type { PartJson } from '../protocol/api-types.ts';
import { assertTokenUnexpired, createEnrollmentToken, hashTokenSecret, parseEnrollmentToken } from '../protocol/enrollment-token.ts';
import type { Caller } from './auth/accounts.ts';
import { checkOwner, iso, num, type PartKindName, partId, partTable, type ServerContext } from './context.ts';
import { keepIssued, recordCertificate, type ReenrollProof, reenrollRefusal } from './cert-renewal.ts';
import type { PartRef } from './control-hub.ts';
import { now } from '../core/test-settings.ts';
import { parseCron } from './schedules.ts';
import { pushRevoked } from './revocation.ts';
import { failQueuedRun } from './runs.ts';
import { storageFiguresByName } from './storage-figures.ts';
import type { SqlValue } from './catalog/driver.ts';
import { contactJson, type LiveContact } from './net-monitor.ts';
import { usToMs } from './net-buckets.ts';

const TOKEN_TTL_MS = 3600_000;

export async function createPartToken(ctx: ServerContext, caller: Caller, kind: PartKindName, ttlMs = TOKEN_TTL_MS): Promise<string> {
  const tokenId = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const { token, payload, secretHash } = createEnrollmentToken({ kind, id: tokenId, caFingerprint: ctx.caFingerprint, server: ctx.url, ttlMs });
  await ctx.db.run(
    'INSERT INTO enrollment_tokens (secret_hash, kind, created_by, created_at, expires_at, token_id) VALUES (?, ?, ?, ?, ?, ?)',
    [Buffer.from(secretHash, 'hex'), kind, caller.id, Date.now(), payload.exp, tokenId],
  );
  return token;
}

/** `previous`: a part enrolled under `name` before re-enrolls (its certificate expired): see cert-renewal.ts */
export type EnrollRequest = { token: string; name: string; csr: string; publicKey?: string; hosts?: string[]; version?: string; previous?: ReenrollProof };

export async function enroll(ctx: ServerContext, body: EnrollRequest): Promise<{ certificate: string; ca: string; grantPublicKey: string }> {
  const token = parseEnrollmentToken(body.token);
  const name = checkPartName(body.name);
  if (token.kind !== 'agent' && token.kind !== 'storage') throw new CairnError('E_BAD_REQUEST', 'enrollment token is not for an agent or a storage server');
  assertTokenUnexpired(token);
  const kind: PartKindName = token.kind;
  if (token.kind === 'agent') {
    if (!body.publicKey) throw new CairnError('E_BAD_REQUEST', 'publicKey: an agent must send its key-wrapping public key');
    checkAgentPublicKey(body.publicKey);
  }
  const table = partTable(token.kind);
  let certificate = '';
  let reenrolled = false;
  await ctx.db.transaction(async (tx) => {
    const rows = await tx.query<{ id: number; kind: string; used_at: number | null; expires_at: number; created_by: number | null }>(
      'SELECT id, kind, used_at, expires_at, created_by FROM enrollment_tokens WHERE secret_hash = ?',
      [Buffer.from(hashTokenSecret(token.secret), 'hex')],
    );
    const row = rows[0];
    if (!row || row.kind !== token.kind) throw new CairnError('E_UNAUTHORIZED', 'enrollment token is not known to this server');
    if (row.used_at !== null) throw new CairnError('E_UNAUTHORIZED', 'enrollment token was already used');
    if (Date.now() > num(row.expires_at)) throw new CairnError('E_UNAUTHORIZED', 'enrollment token expired');
    const taken = await tx.query<{ id: number; cert_fingerprint: string; public_key?: Uint8Array | null }>(
      `SELECT * FROM ${table} WHERE name = ? AND removed_at IS NULL`,
      [name],
    );
    const existing = taken[0];
    if (existing) {
      // only the part itself may take its name again: it proves it holds the enrolled certificate's key
      if (!body.previous) throw new CairnError('E_CONFLICT', `a ${token.kind} named ${name} is already enrolled`);
      const why = reenrollRefusal(ctx, { kind, name }, existing.cert_fingerprint, body.previous, body.csr);
      if (why) throw new CairnError('E_CONFLICT', `a ${token.kind} named ${name} is already enrolled, and this is not it: ${why}`);
      if (token.kind === 'agent' && Buffer.from(existing.public_key ?? []).toString('utf8') !== body.publicKey)
        throw new CairnError('E_CONFLICT', `agent ${name} is enrolled with another key-wrapping public key; its vault keys are wrapped to that one`);
    }
    // signed only once the token is known good; the transaction holds other writers meanwhile
    certificate = await issuePartCertificate(ctx.ca, body.csr, { kind: token.kind, name });
    const fingerprint = certificateFingerprint(certificate);
    const expires = certValidity(certificate).expiresAt;
    if (existing) {
      reenrolled = true;
      await keepIssued(ctx, { kind, name }, certificate);
      await recordCertificate(tx, kind, num(existing.id), certificate);
      await tx.run(`UPDATE ${table} SET version = ? WHERE id = ?`, [body.version ?? null, existing.id]);
    } else if (token.kind === 'agent') {
      await tx.run(
        'INSERT INTO agents (name, owner_id, cert_fingerprint, public_key, enrolled_at, version, cert_expires) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [name, row.created_by, fingerprint, Buffer.from(body.publicKey!, 'utf8'), Date.now(), body.version ?? null, expires],
      );
    } else {
      await tx.run('INSERT INTO storages (name, cert_fingerprint, enrolled_at, version, cert_expires) VALUES (?, ?, ?, ?, ?)', [
        name,
        fingerprint,
        Date.now(),
        body.version ?? null,
        expires,
      ]);
    }
    await tx.run('UPDATE enrollment_tokens SET used_at = ? WHERE id = ?', [Date.now(), row.id]);
  });
  ctx.log(`${token.kind} ${name} ${reenrolled ? 're-enrolled (same part, new certificate)' : 'enrolled'}`);
  return { certificate, ca: ctx.ca.certPem, grantPublicKey: ctx.grantPublicKeyPem };
}

type PartRow = {
  name: string;
  status: string;
  last_seen: number | null;
  rtt_ms: number | null;
  version: string | null;
  address: string | null;
  cert_expires: number | null;
  max_runs: number | null;
  gc_schedule?: string | null;
  owner?: string | null;
  public_key?: Uint8Array | null;
};

function partJson(r: PartRow, online: boolean, defaultMax: number, live: LiveContact | undefined): PartJson {
  return {
    name: r.name,
    status: online ? 'online' : 'offline',
    ...contactJson(live, r),
    version: r.version,
    address: r.address,
    certExpires: iso(r.cert_expires),
    maxRuns: r.max_runs === null ? defaultMax : num(r.max_runs),
    ...(r.gc_schedule !== undefined ? { gcSchedule: r.gc_schedule } : {}),
    ...(r.owner !== undefined ? { owner: r.owner } : {}),
    ...(r.public_key !== undefined ? { keyFingerprint: keyFingerprint(r.public_key) } : {}),
  };
}

const fingerprints = new Map<string, string>();

/** SHA-256 (hex) of the SPKI DER of an agent's key-wrapping public key (agents.public_key holds the PEM). */
function keyFingerprint(pemBytes: Uint8Array | null): string | null {
  if (!pemBytes) return null;
  const pem = Buffer.from(pemBytes).toString('utf8');
  let fingerprint = fingerprints.get(pem);
  if (fingerprint === undefined) {
    fingerprint = agentKeyFingerprint(pem);
    fingerprints.set(pem, fingerprint);
  }
  return fingerprint;
}

/** Agents (a `user` sees only its own) or storage servers (everyone sees them: jobs name them). */
export async function listParts(ctx: ServerContext, kind: PartKindName, caller: Caller): Promise<PartJson[]> {
  const rows =
    kind === 'agent'
      ? (
          await ctx.db.query<PartRow & { owner_id: number | null }>(
            'SELECT a.*, u.name AS owner FROM agents a LEFT JOIN users u ON u.id = a.owner_id WHERE a.removed_at IS NULL ORDER BY a.name',
          )
        ).filter((r) => caller.role !== 'user' || (r.owner_id !== null && num(r.owner_id) === caller.id))
      : await ctx.db.query<PartRow>('SELECT * FROM storages WHERE removed_at IS NULL ORDER BY name');
  const defaultMax = kind === 'agent' ? ctx.limits.perAgent : ctx.limits.perStorage;
  const figures = kind === 'storage' ? await storageFiguresByName(ctx) : undefined;
  return rows.map((r) => ({ ...partJson(r, ctx.hub.isOnline({ kind, name: r.name }), defaultMax, ctx.net.contact({ kind, name: r.name })), ...figures?.get(r.name) }));
}

/**
 * `agent set` / `storage set`: the part's own limit of runs at once; a storage server's gc
 * schedule (a five-field cron, '' for none; a new one has missed nothing before it).
 */
export async function setPart(ctx: ServerContext, kind: PartKindName, name: string, caller: Caller, body: { maxRuns?: number; gcSchedule?: string }): Promise<PartJson> {
  const rows = await ctx.db.query<{ id: number; owner_id?: number | null }>(`SELECT * FROM ${partTable(kind)} WHERE name = ? AND removed_at IS NULL`, [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no ${kind} named ${name}`);
  if (kind === 'agent') checkOwner(caller, rows[0].owner_id ?? null, `agent named ${name}`);
  if (body.maxRuns === undefined && body.gcSchedule === undefined) throw new CairnError('E_BAD_REQUEST', `${kind} set: nothing to change`);
  if (body.gcSchedule !== undefined && kind !== 'storage') throw new CairnError('E_BAD_REQUEST', 'gcSchedule: only storage servers collect garbage');
  if (body.gcSchedule) parseCron(body.gcSchedule);
  if (body.maxRuns !== undefined) await ctx.db.run(`UPDATE ${partTable(kind)} SET max_runs = ? WHERE id = ?`, [body.maxRuns, rows[0].id]);
  if (body.gcSchedule !== undefined)
    await ctx.db.run('UPDATE storages SET gc_schedule = ?, gc_checked_at = ? WHERE id = ?', [body.gcSchedule === '' ? null : body.gcSchedule.trim().split(/\s+/).join(' '), now(), rows[0].id]);
  ctx.kick();
  return getPart(ctx, kind, name, caller);
}

export async function getPart(ctx: ServerContext, kind: PartKindName, name: string, caller: Caller): Promise<PartJson & { publicKey?: string }> {
  const all = await listParts(ctx, kind, caller);
  const part = all.find((p) => p.name === name);
  if (!part) throw new CairnError('E_NOT_FOUND', `no ${kind} named ${name}`);
  if (kind !== 'agent') return part;
  const rows = await ctx.db.query<{ public_key: Uint8Array | null }>('SELECT public_key FROM agents WHERE name = ? AND removed_at IS NULL', [name]);
  const key = rows[0]?.public_key;
  return { ...part, ...(key ? { publicKey: Buffer.from(key).toString('utf8') } : {}) };
}

export async function removePart(ctx: ServerContext, kind: PartKindName, name: string): Promise<void> {
  const id = await partId(ctx.db, kind, name);
  const cert = await ctx.db.query<{ cert_fingerprint: string }>(`SELECT cert_fingerprint FROM ${partTable(kind)} WHERE id = ?`, [id]);
  await ctx.db.run(`UPDATE ${partTable(kind)} SET removed_at = ?, status = 'offline' WHERE id = ?`, [Date.now(), id]);
  // its queued runs could never start: end them now, saying why
  const queued = await ctx.db.query<{ id: SqlValue }>(
    `SELECT id FROM runs WHERE status = 'queued' AND ${kind === 'agent' ? 'agent_id' : 'storage_id'} = ?`,
    [id],
  );
  for (const r of queued) await failQueuedRun(ctx, num(r.id), `${kind} ${name} was removed`);
  ctx.hub.disconnect({ kind, name }, 'removed by an administrator');
  // its grants still valid are refused by every online storage server before the removal answers
  if (kind === 'agent' && cert[0]) await pushRevoked(ctx, cert[0].cert_fingerprint);
  ctx.net.forget({ kind, name });
  ctx.log(`${kind} ${name} removed`);
}

/**
 * May this certificate connect? Enrolled under this name, not removed, the very certificate
 * issued; 'removed' when it is the certificate of a part an administrator removed (told so, it stops).
 */
export async function admitPart(ctx: ServerContext, part: PartRef, fingerprint: string): Promise<boolean | 'removed'> {
  const rows = await ctx.db.query<{ cert_fingerprint: string; removed_at: number | null }>(
    `SELECT cert_fingerprint, removed_at FROM ${partTable(part.kind)} WHERE name = ? AND cert_fingerprint = ?`,
    [part.name, fingerprint],
  );
  if (rows.some((r) => r.removed_at === null)) return true;
  return rows.length > 0 ? 'removed' : false;
}

/** A link said hello: the transition is written (status, since when, net_history) and announced. */
export async function partOnline(ctx: ServerContext, part: PartRef, hello: { version: string; address: string }): Promise<void> {
  const at = now();
  const id = await transition(ctx, part, 'online', at, [', version = ?, address = ?', hello.version, hello.address]);
  if (id !== undefined) ctx.net.online(part, id);
  ctx.events.publish('part', { kind: part.kind, name: part.name, status: 'online', rttMs: null, lastSeen: iso(at) });
  ctx.log(`${part.kind} ${part.name} online (${hello.address})`);
  ctx.kick();
}

/** The link is gone: the transition is written; lastSeen stays the last heartbeat. */
export async function partOffline(ctx: ServerContext, part: PartRef, reason: string): Promise<void> {
  ctx.net.offline(part);
  const lastSeen = ctx.net.contact(part)?.lastSeen ?? now();
  await transition(ctx, part, 'offline', now(), [', last_seen = ?', lastSeen]);
  ctx.events.publish('part', { kind: part.kind, name: part.name, status: 'offline', rttMs: null, lastSeen: iso(lastSeen) });
  ctx.log(`${part.kind} ${part.name} offline: ${reason}`);
}

/** A heartbeat lives in memory only (net-monitor.ts); consoles see it as a `part` event marked heartbeat. */
export function partHeartbeat(ctx: ServerContext, part: PartRef, rttMs: number): void {
  ctx.net.heartbeat(part, rttMs);
  const live = ctx.net.contact(part);
  ctx.events.publish('part', { kind: part.kind, name: part.name, status: 'online', heartbeat: true, rttMs: usToMs(live?.rttUs ?? null), lastSeen: iso(live?.lastSeen) });
}

/**
 * Writes a status change: the status, when it began (kept when it did not change), the extra
 * columns given, and a net_history row. Answers the part's id (undefined when it was removed).
 */
async function transition(ctx: ServerContext, part: PartRef, status: 'online' | 'offline', at: number, extra: [string, ...SqlValue[]]): Promise<number | undefined> {
  const table = partTable(part.kind);
  const [columns, ...values] = extra;
  return ctx.db.transaction(async (tx) => {
    const rows = await tx.query<{ id: number }>(`SELECT id FROM ${table} WHERE name = ? AND removed_at IS NULL`, [part.name]);
    if (!rows[0]) return undefined;
    const id = num(rows[0].id);
    await tx.run(`UPDATE ${table} SET status_since = CASE WHEN status = ? AND status_since IS NOT NULL THEN status_since ELSE ? END, status = ?${columns} WHERE id = ?`, [status, at, status, ...values, id]);
    await tx.run('INSERT INTO net_history (part_kind, part_id, time, status, rtt_ms) VALUES (?, ?, ?, ?, ?)', [part.kind, id, at, status, null]);
    return id;
  });
}

// Agents and storage servers as the catalog knows them: enrollment tokens, enrollment (the one
// transaction that checks the token, issues the certificate, records the part and burns the
// token), the list consoles see, removal, and what the control hub reports (online, offline,
// round-trip times, kept in net_history too).
import { checkAgentPublicKey } from '../core/agent-keys.ts';
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
    certificate = await issuePartCertificate(ctx.ca, body.csr, { kind: token.kind, name, hosts: body.hosts ?? [] });
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
};

function partJson(r: PartRow, online: boolean, defaultMax: number): PartJson {
  return {
    name: r.name,
    status: online ? 'online' : 'offline',
    lastSeen: iso(online ? Date.now() : r.last_seen),
    rttMs: r.rtt_ms === null ? null : num(r.rtt_ms),
    version: r.version,
    address: r.address,
    certExpires: iso(r.cert_expires),
    maxRuns: r.max_runs === null ? defaultMax : num(r.max_runs),
    ...(r.gc_schedule !== undefined ? { gcSchedule: r.gc_schedule } : {}),
    ...(r.owner !== undefined ? { owner: r.owner } : {}),
  };
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
  return rows.map((r) => partJson(r, ctx.hub.isOnline({ kind, name: r.name }), defaultMax));
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
  await ctx.db.run(`UPDATE ${partTable(kind)} SET removed_at = ?, status = 'offline' WHERE id = ?`, [Date.now(), id]);
  // its queued runs could never start: end them now, saying why
  await ctx.db.run(
    `UPDATE runs SET status = 'failed', ended_at = ?, reason = NULL, error = ? WHERE status = 'queued' AND ${kind === 'agent' ? 'agent_id' : 'storage_id'} = ?`,
    [Date.now(), `${kind} ${name} was removed`, id],
  );
  ctx.hub.disconnect({ kind, name }, 'removed by an administrator');
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

export async function partOnline(ctx: ServerContext, part: PartRef, hello: { version: string; address: string }): Promise<void> {
  const now = Date.now();
  await ctx.db.run(`UPDATE ${partTable(part.kind)} SET status = 'online', last_seen = ?, version = ?, address = ? WHERE name = ? AND removed_at IS NULL`, [
    now,
    hello.version,
    hello.address,
    part.name,
  ]);
  await netHistory(ctx, part, 'online', null);
  ctx.events.publish('part', { kind: part.kind, name: part.name, status: 'online', rttMs: null, lastSeen: iso(now) });
  ctx.log(`${part.kind} ${part.name} online (${hello.address})`);
  ctx.kick();
}

export async function partOffline(ctx: ServerContext, part: PartRef, reason: string): Promise<void> {
  const now = Date.now();
  await ctx.db.run(`UPDATE ${partTable(part.kind)} SET status = 'offline', last_seen = ? WHERE name = ? AND removed_at IS NULL`, [now, part.name]);
  await netHistory(ctx, part, 'offline', null);
  ctx.events.publish('part', { kind: part.kind, name: part.name, status: 'offline', rttMs: null, lastSeen: iso(now) });
  ctx.log(`${part.kind} ${part.name} offline: ${reason}`);
}

export async function partHeartbeat(ctx: ServerContext, part: PartRef, rttMs: number): Promise<void> {
  const now = Date.now();
  const rtt = Math.max(0, Math.round(rttMs));
  await ctx.db.run(`UPDATE ${partTable(part.kind)} SET last_seen = ?, rtt_ms = ? WHERE name = ? AND removed_at IS NULL`, [now, rtt, part.name]);
  await netHistory(ctx, part, 'online', rtt);
  ctx.events.publish('part', { kind: part.kind, name: part.name, status: 'online', rttMs: rtt, lastSeen: iso(now) });
}

async function netHistory(ctx: ServerContext, part: PartRef, status: 'online' | 'offline', rtt: number | null): Promise<void> {
  const rows = await ctx.db.query<{ id: number }>(`SELECT id FROM ${partTable(part.kind)} WHERE name = ? AND removed_at IS NULL`, [part.name]);
  if (!rows[0]) return;
  await ctx.db.run('INSERT INTO net_history (part_kind, part_id, time, status, rtt_ms) VALUES (?, ?, ?, ?, ?)', [
    part.kind,
    rows[0].id,
    Date.now(),
    status,
    rtt,
  ]);
}

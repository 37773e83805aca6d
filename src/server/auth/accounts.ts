// People's accounts in the catalog: users and their roles, login sessions and API tokens, and
// turning a request's bearer token into the caller. Tokens are random (32 bytes) and only their
// SHA-256 is stored, so a copy of the catalog opens no session. A removed user is disabled, not
// deleted: their name stays in the records (jobs, vaults, audit) and is not given to someone else.
import { createHash, randomBytes } from 'node:crypto';
import { CairnError } from '../../core/errors.ts';
import { testDuration } from '../../core/test-settings.ts';
import { API_TOKEN_PREFIX, type ApiTokenJson } from '../../protocol/api-token.ts';
import { NAME_PATTERN } from '../../protocol/api-schema.ts';
import type { CatalogDriver } from '../catalog/driver.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { isRole, type Role } from './roles.ts';

export type Caller = { id: number; name: string; role: Role };

export { API_TOKEN_PREFIX };
const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** last_used_at is a write; refreshing it at most once a minute keeps reads from becoming writes. */
const LAST_USED_RESOLUTION_MS = 60_000;
const WRONG_LOGIN = 'wrong user name or password';
const NAME_RE = new RegExp(NAME_PATTERN, 'u');

type UserRow = { id: number; name: string; role: string; password_hash: string; created_at: number; disabled_at: number | null };
type TokenRow = { token_id: number; expires_at: number | null; last_used_at: number | null; id: number; name: string; role: string };
type ApiTokenRow = { id: number; name: string; user: string; created_at: number; expires_at: number | null; last_used_at: number | null };

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** What names a bearer token in memory (an event stream's owner): the hex SHA-256 the catalog keys it by. */
export function tokenKey(bearer: string | undefined): string | undefined {
  const token = bareToken(bearer);
  return token === undefined ? undefined : tokenHash(token).toString('hex');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function callerOf(row: { id: number; name: string; role: string }): Caller {
  if (!isRole(row.role)) throw new CairnError('E_INTERNAL', `user ${row.name} has an unknown role ${row.role}`);
  return { id: Number(row.id), name: row.name, role: row.role };
}

/** Strips an optional `Bearer ` scheme, so both the header's value and the bare token are accepted. */
function bareToken(bearer: string | undefined): string | undefined {
  if (bearer === undefined) return undefined;
  const m = /^Bearer(?:\s+(.*))?$/i.exec(bearer.trim());
  const token = (m ? (m[1] ?? '') : bearer).trim();
  return token === '' ? undefined : token;
}

export class Accounts {
  readonly #db: CatalogDriver;
  readonly #sessionTtlMs: number;
  readonly #now: () => number;
  /** A real hash of a random password, verified against when the user is unknown so timing tells nothing. */
  #decoyHash: Promise<string> | undefined;

  constructor(db: CatalogDriver, opts: { sessionTtlMs?: number; now?: () => number } = {}) {
    this.#db = db;
    this.#sessionTtlMs = opts.sessionTtlMs ?? testDuration('SESSION_TTL', DEFAULT_SESSION_TTL_MS);
    this.#now = opts.now ?? Date.now; // not the test clock: tests that move it by days keep their sessions
  }

  async createUser(name: string, role: Role, password: string): Promise<Caller> {
    if (!NAME_RE.test(name)) throw new CairnError('E_BAD_REQUEST', `user name ${JSON.stringify(name.slice(0, 64))} must be 1-64 of [A-Za-z0-9._-]`);
    if (!isRole(role)) throw new CairnError('E_BAD_REQUEST', `role must be one of admin, operator, user, auditor`);
    const passwordHash = await hashPassword(password); // slow: done before taking the write lock
    return this.#db.transaction(async (tx) => {
      const [existing] = await tx.query<{ disabled_at: number | null }>('SELECT disabled_at FROM users WHERE name = ?', [name]);
      if (existing) {
        throw new CairnError(
          'E_CONFLICT',
          existing.disabled_at === null ? `user ${name} exists` : `user ${name} exists (removed; a removed user's name is not reused)`,
        );
      }
      const [row] = await tx.query<{ id: number }>(
        'INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id',
        [name, role, passwordHash, this.#now()],
      );
      return { id: Number(row!.id), name, role };
    });
  }

  /** Live users, by name. */
  async listUsers(): Promise<{ name: string; role: Role; createdAt: string }[]> {
    const rows = await this.#db.query<UserRow>('SELECT id, name, role, created_at FROM users WHERE disabled_at IS NULL ORDER BY name');
    return rows.map((r) => ({ name: r.name, role: callerOf(r).role, createdAt: iso(Number(r.created_at)) }));
  }

  /** Disables the user, ends their sessions and revokes their API tokens (answers its id). The last admin stays. */
  async removeUser(name: string): Promise<number> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const [user] = await tx.query<UserRow>('SELECT id, role FROM users WHERE name = ? AND disabled_at IS NULL', [name]);
      if (!user) throw new CairnError('E_NOT_FOUND', `no user ${name}`);
      if (user.role === 'admin') await this.#keepAnAdmin(tx, name);
      await tx.run('UPDATE users SET disabled_at = ? WHERE id = ?', [now, user.id]);
      await tx.run('DELETE FROM sessions WHERE user_id = ?', [user.id]);
      await tx.run('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL', [now, user.id]);
      return Number(user.id);
    });
  }

  /**
   * Gives a live user another role (answers its id). Sessions and API tokens take the user's role
   * at each request, so the change holds from the next one. The last admin stays an admin.
   */
  async setRole(name: string, role: Role): Promise<number> {
    if (!isRole(role)) throw new CairnError('E_BAD_REQUEST', `role must be one of admin, operator, user, auditor`);
    return this.#db.transaction(async (tx) => {
      const [user] = await tx.query<UserRow>('SELECT id, role FROM users WHERE name = ? AND disabled_at IS NULL', [name]);
      if (!user) throw new CairnError('E_NOT_FOUND', `no user ${name}`);
      if (user.role === 'admin' && role !== 'admin') await this.#keepAnAdmin(tx, name);
      await tx.run('UPDATE users SET role = ? WHERE id = ?', [role, user.id]);
      return Number(user.id);
    });
  }

  async #keepAnAdmin(tx: Pick<CatalogDriver, 'query'>, name: string): Promise<void> {
    const [admins] = await tx.query<{ n: number }>("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL");
    if (Number(admins!.n) <= 1) throw new CairnError('E_CONFLICT', `user ${name} is the last admin; make another admin first`);
  }

  /** A new session. Wrong password and unknown user fail alike, in message and in time. */
  async login(name: string, password: string): Promise<{ token: string; user: string; role: Role; expiresAt: string }> {
    const [user] = await this.#db.query<UserRow>(
      'SELECT id, name, role, password_hash FROM users WHERE name = ? AND disabled_at IS NULL',
      [name],
    );
    const ok = await verifyPassword(password, user ? user.password_hash : await this.#decoy());
    if (!user || !ok) throw new CairnError('E_UNAUTHORIZED', WRONG_LOGIN);
    const caller = callerOf(user);
    const token = newToken();
    const now = this.#now();
    const expiresAt = now + this.#sessionTtlMs;
    await this.#db.transaction(async (tx) => {
      await tx.run('DELETE FROM sessions WHERE expires_at <= ?', [now]); // expired sessions are never useful again
      await tx.run('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)', [
        tokenHash(token), caller.id, now, expiresAt,
      ]);
    });
    return { token, user: caller.name, role: caller.role, expiresAt: iso(expiresAt) };
  }

  /** Ends the session of `token` (a session token; API tokens are not ended by logging out); answers its `tokenKey` when one ended. */
  async logout(token: string): Promise<string | undefined> {
    const bare = bareToken(token);
    if (bare === undefined) return undefined;
    const r = await this.#db.run('DELETE FROM sessions WHERE token_hash = ?', [tokenHash(bare)]);
    return r.changes > 0 ? tokenHash(bare).toString('hex') : undefined;
  }

  /** The caller a bearer token (the header's value or the bare token) stands for: a live session or API token. */
  async authenticate(bearer: string | undefined): Promise<Caller> {
    const token = bareToken(bearer);
    if (token === undefined) throw new CairnError('E_UNAUTHORIZED', 'log in first: no bearer token was sent');
    const now = this.#now();
    const api = token.startsWith(API_TOKEN_PREFIX);
    const [row] = await this.#db.query<TokenRow>(
      api
        ? `SELECT t.id AS token_id, t.expires_at, t.last_used_at, u.id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled_at IS NULL`
        : `SELECT s.id AS token_id, s.expires_at, s.last_used_at, u.id, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.token_hash = ? AND u.disabled_at IS NULL`,
      [tokenHash(token)],
    );
    if (!row) throw new CairnError('E_UNAUTHORIZED', api ? 'unknown or revoked API token' : 'unknown session; log in again');
    if (row.expires_at !== null && Number(row.expires_at) <= now)
      throw new CairnError('E_UNAUTHORIZED', api ? 'API token expired' : 'session expired; log in again');
    if (row.last_used_at === null || now - Number(row.last_used_at) >= LAST_USED_RESOLUTION_MS)
      await this.#db.run(`UPDATE ${api ? 'api_tokens' : 'sessions'} SET last_used_at = ? WHERE id = ?`, [now, row.token_id]);
    return callerOf(row);
  }

  /** A new API token for the caller, with the caller's role; shown once, stored as its hash. */
  async createApiToken(caller: Caller, name = 'api', opts: { ttlMs?: number } = {}): Promise<string> {
    const token = API_TOKEN_PREFIX + newToken();
    const now = this.#now();
    await this.#db.run('INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [
      caller.id, name, tokenHash(token), now, opts.ttlMs === undefined ? null : now + opts.ttlMs,
    ]);
    return token;
  }

  /**
   * The caller's one token named `name` (`cairn up`'s): `current` while it is theirs, of that name,
   * live and has more than `renewBeforeMs` left; else a new one, the others of that name revoked.
   */
  async keepApiToken(caller: Caller, name: string, current: string | undefined, opts: { ttlMs: number; renewBeforeMs: number }): Promise<string> {
    const now = this.#now();
    if (current !== undefined && current.startsWith(API_TOKEN_PREFIX)) {
      const [row] = await this.#db.query<{ expires_at: number | null }>(
        'SELECT expires_at FROM api_tokens WHERE token_hash = ? AND user_id = ? AND name = ? AND revoked_at IS NULL',
        [tokenHash(current), caller.id, name],
      );
      if (row && (row.expires_at === null || Number(row.expires_at) - now > opts.renewBeforeMs)) return current;
    }
    const token = API_TOKEN_PREFIX + newToken();
    await this.#db.transaction(async (tx) => {
      await tx.run('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND name = ? AND revoked_at IS NULL', [now, caller.id, name]);
      await tx.run('INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [
        caller.id, name, tokenHash(token), now, now + opts.ttlMs,
      ]);
    });
    return token;
  }

  /** Live API tokens (not revoked, not expired): the caller's own, or everyone's for an admin. */
  async listApiTokens(caller: Caller): Promise<ApiTokenJson[]> {
    const all = caller.role === 'admin';
    const rows = await this.#db.query<ApiTokenRow>(
      `SELECT t.id, t.name, u.name AS user, t.created_at, t.expires_at, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id
       WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.disabled_at IS NULL ${all ? '' : 'AND t.user_id = ?'}
       ORDER BY t.id`,
      all ? [this.#now()] : [this.#now(), caller.id],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      name: r.name,
      user: r.user,
      createdAt: iso(Number(r.created_at)),
      expiresAt: r.expires_at === null ? null : iso(Number(r.expires_at)),
      lastUsed: r.last_used_at === null ? null : iso(Number(r.last_used_at)),
    }));
  }

  /**
   * Revokes one live API token: the caller's own, or anyone's for an admin; another's is "no such
   * token", not "forbidden". Answers its `tokenKey`.
   */
  async revokeApiToken(caller: Caller, id: number): Promise<string> {
    const [row] = await this.#db.query<{ token_hash: Uint8Array }>(
      `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL${caller.role === 'admin' ? '' : ' AND user_id = ?'} RETURNING token_hash`,
      caller.role === 'admin' ? [this.#now(), id] : [this.#now(), id, caller.id],
    );
    if (!row) throw new CairnError('E_NOT_FOUND', `no API token ${id}`);
    return Buffer.from(row.token_hash).toString('hex');
  }

  /** A live user by name. */
  async userByName(name: string): Promise<Caller | undefined> {
    const [row] = await this.#db.query<UserRow>('SELECT id, name, role FROM users WHERE name = ? AND disabled_at IS NULL', [name]);
    return row ? callerOf(row) : undefined;
  }

  #decoy(): Promise<string> {
    this.#decoyHash ??= hashPassword(randomBytes(18).toString('base64'));
    return this.#decoyHash;
  }
}

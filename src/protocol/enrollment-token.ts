// Enrollment tokens: the one-time text an operator pastes into a new part so it can ask the
// backup server for a certificate. `cairn1.<base64url JSON>` carrying the part's kind and id,
// a random secret, an expiry, the server URL and the CA's fingerprint, so the part also
// authenticates the server (it pins the CA before sending its CSR). The server keeps only
// `hashTokenSecret(secret)` and forgets it on first use.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CairnError } from '../core/errors.ts';
import { checkPartKind, checkPartName, type PartKind } from '../core/part-identity.ts';
import { onlyFields } from './fields.ts';

export const TOKEN_PREFIX = 'cairn1.';
const MAX_TOKEN_CHARS = 4096;
const SECRET_BYTES = 32;
const FIELDS = ['kind', 'id', 'secret', 'exp', 'caFingerprint', 'server'] as const;

export type EnrollmentToken = {
  kind: PartKind;
  /** the part's name once enrolled (its certificate names `cairn-<kind>:<id>`) */
  id: string;
  /** base64url of 32 random bytes */
  secret: string;
  /** expiry, milliseconds since the epoch */
  exp: number;
  /** hex SHA-256 of the CA certificate's DER (lowercase, no colons) */
  caFingerprint: string;
  /** the backup server's https URL */
  server: string;
};

function bad(message: string): CairnError {
  return new CairnError('E_BAD_REQUEST', `enrollment token: ${message}`);
}

/** Checks every field of a decoded token; unknown fields are refused too. */
function checkToken(v: unknown): EnrollmentToken {
  const o = onlyFields(v, FIELDS, bad);
  let kind: PartKind;
  let id: string;
  try {
    kind = checkPartKind(o.kind);
    id = checkPartName(o.id);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (typeof o.secret !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(o.secret)) throw bad('secret must be 32 bytes in base64url');
  if (typeof o.exp !== 'number' || !Number.isSafeInteger(o.exp) || o.exp <= 0) throw bad('exp must be a positive integer');
  if (typeof o.caFingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(o.caFingerprint))
    throw bad('caFingerprint must be 64 lowercase hex digits');
  if (typeof o.server !== 'string') throw bad('server must be an https URL');
  let url: URL;
  try {
    url = new URL(o.server);
  } catch {
    throw bad('server must be an https URL');
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') throw bad('server must be an https URL');
  return { kind, id, secret: o.secret, exp: o.exp, caFingerprint: o.caFingerprint, server: o.server };
}

/** A new token for the part `kind`/`id`, valid for `ttlMs` from `now`. */
export function createEnrollmentToken(
  fields: Omit<EnrollmentToken, 'secret' | 'exp'> & { ttlMs: number },
  now = Date.now(),
): { token: string; payload: EnrollmentToken; secretHash: string } {
  const payload = checkToken({
    kind: fields.kind,
    id: fields.id,
    secret: randomBytes(SECRET_BYTES).toString('base64url'),
    exp: now + fields.ttlMs,
    caFingerprint: fields.caFingerprint,
    server: fields.server,
  });
  return { token: encodeEnrollmentToken(payload), payload, secretHash: hashTokenSecret(payload.secret) };
}

export function encodeEnrollmentToken(token: EnrollmentToken): string {
  const checked = checkToken(token);
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(checked)).toString('base64url');
}

/** Decodes and validates a pasted token (surrounding whitespace allowed); does not check expiry. */
export function parseEnrollmentToken(text: string): EnrollmentToken {
  const t = text.trim();
  if (t.length > MAX_TOKEN_CHARS) throw bad('too long');
  if (!t.startsWith(TOKEN_PREFIX)) throw bad(`must start with ${TOKEN_PREFIX}`);
  const body = t.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw bad('not base64url after the prefix');
  const bytes = Buffer.from(body, 'base64url');
  // Node's decoder skips stray characters; a canonical round trip catches a damaged paste
  if (bytes.toString('base64url') !== body) throw bad('not base64url after the prefix');
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad('payload is not JSON');
  }
  return checkToken(v);
}

/** Throws E_UNAUTHORIZED once `now` is past the token's expiry. */
export function assertTokenUnexpired(token: EnrollmentToken, now = Date.now()): void {
  if (now > token.exp)
    throw new CairnError('E_UNAUTHORIZED', `enrollment token expired at ${new Date(token.exp).toISOString()}`);
}

/** What the server stores instead of the secret: hex SHA-256 (the secret is 256 random bits, so no salt). */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time check of a presented secret against a stored hash. */
export function tokenSecretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashTokenSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The text a re-enrolling part signs with its enrolled certificate's key: it binds the holder of
 * that key to this request's new key (the CSR), so the proof cannot serve another request.
 */
export function reenrollSigned(csrPem: string): string {
  return `cairn-reenroll\n${csrPem}`;
}

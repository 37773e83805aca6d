// Run grants: for each run the backup server signs a short-lived statement "agent A may do op O
// on vault V at storage S until T", and the storage server checks it with the server's public
// key on every data-plane request. Compact form: base64url(JSON payload) '.' base64url(ECDSA
// P-256 SHA-256 signature, IEEE P1363 r||s), so it fits in one HTTP header.
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { CairnError } from '../core/errors.ts';
import { checkPartName } from '../core/part-identity.ts';
import { isVaultName } from './data-plane.ts';
import { onlyFields } from './fields.ts';

/** `nettest`: `net test`'s upload to the discard route and its pings, nothing else (protocol/nettest.ts) */
export const GRANT_OPS = ['backup', 'restore', 'verify', 'copy', 'gc', 'nettest'] as const;
export type GrantOp = (typeof GRANT_OPS)[number];

export type Grant = {
  /** the agent's part name */
  agent: string;
  /** SHA-256 (hex) of the agent's TLS certificate DER: the grant is good only over a connection with that certificate */
  cert: string;
  /** the storage server's part name */
  storage: string;
  vault: string;
  op: GrantOp;
  /** the run this grant belongs to (for the storage server's log) */
  run: string;
  /** expiry, milliseconds since the epoch */
  exp: number;
};

export type GrantExpectation = { vault: string; op: GrantOp; storage?: string };

const FIELDS = ['agent', 'cert', 'storage', 'vault', 'op', 'run', 'exp'] as const;
const RUN_ID = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const MAX_GRANT_CHARS = 2048;
const SIGNATURE_CHARS = 86; // 64 bytes r||s in base64url
const DEFAULT_SKEW_MS = 60_000;

function malformed(message: string): CairnError {
  return new CairnError('E_BAD_REQUEST', `grant: ${message}`);
}

function forbidden(message: string): CairnError {
  return new CairnError('E_FORBIDDEN', `grant refused: ${message}`);
}

function checkGrant(v: unknown): Grant {
  const o = onlyFields(v, FIELDS, malformed);
  let agent: string;
  let storage: string;
  try {
    agent = checkPartName(o.agent);
    storage = checkPartName(o.storage);
  } catch {
    throw malformed('agent and storage must be part names');
  }
  if (typeof o.cert !== 'string' || !/^[0-9a-f]{64}$/.test(o.cert)) throw malformed('cert must be a certificate fingerprint (64 lowercase hex digits)');
  if (typeof o.vault !== 'string' || !isVaultName(o.vault)) throw malformed('vault is not a vault name');
  if (typeof o.op !== 'string' || !(GRANT_OPS as readonly string[]).includes(o.op))
    throw malformed(`op must be one of ${GRANT_OPS.join(', ')}`);
  if (typeof o.run !== 'string' || !RUN_ID.test(o.run)) throw malformed('run is not a run id');
  if (typeof o.exp !== 'number' || !Number.isSafeInteger(o.exp) || o.exp <= 0)
    throw malformed('exp must be a positive integer');
  return { agent, cert: o.cert, storage, vault: o.vault, op: o.op as GrantOp, run: o.run, exp: o.exp };
}

// Only P-256 keys: a grant made or checked with any other key type would be a different scheme.
function p256(input: KeyObject | string, type: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    key = typeof input !== 'string' ? input : type === 'private' ? createPrivateKey(input) : createPublicKey(input);
  } catch (e) {
    throw new CairnError('E_INTERNAL', `grant key is not a PEM ${type} key`, { cause: e });
  }
  if (key.type !== type || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new CairnError('E_INTERNAL', `grant key must be an ECDSA P-256 ${type} key`);
  return key;
}

/** The signed compact grant; `privateKey` is the backup server's key (KeyObject or PEM). */
export function signGrant(privateKey: KeyObject | string, grant: Grant): string {
  const key = p256(privateKey, 'private');
  const payload = Buffer.from(JSON.stringify(checkGrant(grant))).toString('base64url');
  const signature = sign('sha256', Buffer.from(payload, 'ascii'), { key, dsaEncoding: 'ieee-p1363' });
  return `${payload}.${signature.toString('base64url')}`;
}

function canonicalBase64url(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  // Node's decoder skips stray characters; only the canonical spelling is one grant
  if (text === '' || !/^[A-Za-z0-9_-]+$/.test(text) || bytes.toString('base64url') !== text)
    throw malformed(`${what} is not base64url`);
  return bytes;
}

/**
 * The grant's payload when `token` is signed by `publicKey` (the backup server's key, a
 * KeyObject or PEM of a key or certificate), has not expired more than `skewMs` before `now`,
 * and names the expected vault, op and (when given) storage server. Otherwise E_FORBIDDEN
 * saying why, or E_BAD_REQUEST when the token is not a grant at all.
 */
export function verifyGrant(
  publicKey: KeyObject | string,
  token: string,
  expect: GrantExpectation,
  now = Date.now(),
  skewMs = DEFAULT_SKEW_MS,
): Grant {
  const key = p256(publicKey, 'public');
  if (typeof token !== 'string' || token.length > MAX_GRANT_CHARS) throw malformed('missing or too long');
  const parts = token.split('.');
  if (parts.length !== 2) throw malformed('must be payload.signature');
  const [payloadText, signatureText] = parts as [string, string];
  const payloadBytes = canonicalBase64url(payloadText, 'payload');
  if (signatureText.length !== SIGNATURE_CHARS) throw malformed('signature has the wrong length');
  const signature = canonicalBase64url(signatureText, 'signature');
  // the signature is checked before the payload is even parsed: nothing unsigned is trusted
  if (!verify('sha256', Buffer.from(payloadText, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, signature))
    throw forbidden('bad signature');
  let parsed: unknown;
  try {
    parsed = JSON.parse(payloadBytes.toString('utf8'));
  } catch {
    throw malformed('payload is not JSON');
  }
  const grant = checkGrant(parsed);
  if (now > grant.exp + skewMs) throw forbidden(`expired at ${new Date(grant.exp).toISOString()}`);
  if (grant.vault !== expect.vault) throw forbidden(`it is for vault ${grant.vault}, not ${expect.vault}`);
  if (grant.op !== expect.op) throw forbidden(`it is for ${grant.op}, not ${expect.op}`);
  if (expect.storage !== undefined && grant.storage !== expect.storage)
    throw forbidden(`it is for storage ${grant.storage}, not ${expect.storage}`);
  return grant;
}

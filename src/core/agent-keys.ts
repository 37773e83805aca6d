// An agent's copy of a vault's keys, wrapped to the agent's own P-256 key pair, so the agent
// needs no passphrase for its runs and the server can relay the copy without reading it:
// ephemeral ECDH P-256 → HKDF-SHA256 (salt random, info naming the scheme) → AES-256-GCM over
// the three keys, with the recipient's public key bound as associated data. Compact text form:
// `ak2.` + base64url(JSON {vault, epk, salt, nonce, sealed}), where `vault` is the vault's random
// id, bound as associated data too (so a copy moved to another vault's row does not open as that
// vault's keys). `ak1.` (no vault) is the legacy form: still opened, never written for a vault
// that has an id.
import {
  createCipheriv,
  createHash,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { CairnError } from './errors.ts';
import type { VaultKeys } from './keys.ts';

export type AgentKeyPair = { privateKeyPem: string; publicKeyPem: string };

const LEGACY = 'ak1.';
const PREFIX = 'ak2.';
const INFO = { [LEGACY]: Buffer.from('cairn agent-wrapped vault keys v1'), [PREFIX]: Buffer.from('cairn agent-wrapped vault keys v2') };
/** a vault id: 16 random bytes, lowercase hex (core/keys.ts newVaultId) */
const VAULT_ID = /^[0-9a-f]{32}$/;

export function generateAgentKeyPair(): AgentKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function spkiDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function wrappingKey(shared: Buffer, salt: Buffer, info: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, salt, info, 32));
}

/** The associated data: the vault id (ak2) and the recipient's SPKI DER. */
function aad(recipientSpki: Buffer, vaultId: string | undefined): Buffer {
  return vaultId === undefined ? recipientSpki : Buffer.concat([Buffer.from(`vault ${vaultId}\n`), recipientSpki]);
}

/**
 * The agent key fingerprint: SHA-256 of the public key's SPKI DER, lowercase hex (what the agent
 * prints at start, `cairn agent key` prints and `agent list` shows). Takes a public or private PEM.
 */
export function agentKeyFingerprint(pem: string): string {
  let key: KeyObject;
  try {
    key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (e) {
    throw new CairnError('E_BAD_REQUEST', 'agent key is not a PEM key', { cause: e });
  }
  return createHash('sha256').update(spkiDer(key)).digest('hex');
}

function publicKeyOf(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new CairnError('E_BAD_REQUEST', 'agent public key is not a PEM public key', { cause: e });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new CairnError('E_BAD_REQUEST', 'agent public key must be EC P-256');
  return key;
}

/** Checks that `pem` is an agent's P-256 public key (E_BAD_REQUEST otherwise). */
export function checkAgentPublicKey(pem: string): void {
  publicKeyOf(pem);
}

/**
 * The vault keys sealed so that only the holder of `publicKeyPem`'s private key can open them,
 * bound to vault `vaultId` (ak2); without one, the legacy ak1 form.
 */
export function wrapForAgent(keys: VaultKeys, publicKeyPem: string, vaultId?: string): string {
  if (vaultId !== undefined && !VAULT_ID.test(vaultId)) throw new CairnError('E_BAD_REQUEST', 'a vault id is 32 lowercase hex digits');
  const recipient = publicKeyOf(publicKeyPem);
  const prefix = vaultId === undefined ? LEGACY : PREFIX;
  const eph = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = wrappingKey(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), salt, INFO[prefix]);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad(spkiDer(recipient), vaultId));
  const ct = Buffer.concat([cipher.update(Buffer.concat([keys.encKey, keys.idKey, keys.chunkerKey])), cipher.final()]);
  const body = {
    ...(vaultId !== undefined ? { vault: vaultId } : {}),
    epk: spkiDer(eph.publicKey).toString('base64url'),
    salt: salt.toString('base64url'),
    nonce: nonce.toString('base64url'),
    sealed: Buffer.concat([ct, cipher.getAuthTag()]).toString('base64url'),
  };
  return prefix + Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** Opens what `wrapForAgent` sealed; E_CORRUPT when it is malformed or not for this key. */
export function unwrapForAgent(wrapped: string, privateKeyPem: string): VaultKeys {
  return openForAgent(wrapped, privateKeyPem).keys;
}

/**
 * Opens what `wrapForAgent` sealed, with the vault id it is bound to (authenticated; undefined
 * for a legacy ak1 copy): the caller compares it with the vault it expects.
 */
export function openForAgent(wrapped: string, privateKeyPem: string): { keys: VaultKeys; vaultId: string | undefined } {
  const corrupt = (why: string, cause?: unknown) => new CairnError('E_CORRUPT', `agent-wrapped vault keys: ${why}`, { cause });
  if (typeof wrapped !== 'string' || wrapped.length > 4096) throw corrupt('not ak1/ak2 text');
  const prefix = wrapped.startsWith(PREFIX) ? PREFIX : wrapped.startsWith(LEGACY) ? LEGACY : undefined;
  if (prefix === undefined) throw corrupt('not ak1/ak2 text');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(wrapped.slice(prefix.length), 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw corrupt('not JSON', e);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw corrupt('not a JSON object');
  const field = (k: string, len?: number) => {
    const v = body[k];
    if (typeof v !== 'string') throw corrupt(`${k} missing`);
    const b = Buffer.from(v, 'base64url');
    if (len !== undefined && b.length !== len) throw corrupt(`${k} has the wrong length`);
    return b;
  };
  const sealed = field('sealed', 96 + 16);
  let vaultId: string | undefined;
  if (prefix === PREFIX) {
    if (typeof body.vault !== 'string' || !VAULT_ID.test(body.vault)) throw corrupt('vault must be a vault id (32 hex digits)');
    vaultId = body.vault;
  }
  try {
    const privateKey = createPrivateKey(privateKeyPem);
    const epk = createPublicKey({ key: field('epk'), format: 'der', type: 'spki' });
    const key = wrappingKey(diffieHellman({ privateKey, publicKey: epk }), field('salt', 16), INFO[prefix]);
    const decipher = createDecipheriv('aes-256-gcm', key, field('nonce', 12));
    decipher.setAAD(aad(spkiDer(createPublicKey(privateKey)), vaultId));
    decipher.setAuthTag(sealed.subarray(96));
    const plain = Buffer.concat([decipher.update(sealed.subarray(0, 96)), decipher.final()]);
    const keys = {
      encKey: Buffer.from(plain.subarray(0, 32)),
      idKey: Buffer.from(plain.subarray(32, 64)),
      chunkerKey: Buffer.from(plain.subarray(64, 96)),
    };
    return { keys, vaultId };
  } catch (e) {
    if (e instanceof CairnError) throw e;
    throw corrupt('they do not open with this agent key', e);
  }
}

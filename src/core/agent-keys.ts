// An agent's copy of a vault's keys, wrapped to the agent's own P-256 key pair, so the agent
// needs no passphrase for its runs and the server can relay the copy without reading it:
// ephemeral ECDH P-256 → HKDF-SHA256 (salt random, info naming the scheme) → AES-256-GCM over
// the three keys, with the recipient's public key bound as associated data. Compact text form:
// `ak1.` + base64url(JSON {epk, salt, nonce, sealed}).
import {
  createCipheriv,
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

const PREFIX = 'ak1.';
const INFO = Buffer.from('cairn agent-wrapped vault keys v1');

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

function wrappingKey(shared: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, salt, INFO, 32));
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

/** The vault keys sealed so that only the holder of `publicKeyPem`'s private key can open them. */
export function wrapForAgent(keys: VaultKeys, publicKeyPem: string): string {
  const recipient = publicKeyOf(publicKeyPem);
  const eph = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = wrappingKey(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), salt);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(spkiDer(recipient));
  const ct = Buffer.concat([cipher.update(Buffer.concat([keys.encKey, keys.idKey, keys.chunkerKey])), cipher.final()]);
  const body = {
    epk: spkiDer(eph.publicKey).toString('base64url'),
    salt: salt.toString('base64url'),
    nonce: nonce.toString('base64url'),
    sealed: Buffer.concat([ct, cipher.getAuthTag()]).toString('base64url'),
  };
  return PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** Opens what `wrapForAgent` sealed; E_CORRUPT when it is malformed or not for this key. */
export function unwrapForAgent(wrapped: string, privateKeyPem: string): VaultKeys {
  const corrupt = (why: string, cause?: unknown) => new CairnError('E_CORRUPT', `agent-wrapped vault keys: ${why}`, { cause });
  if (typeof wrapped !== 'string' || !wrapped.startsWith(PREFIX) || wrapped.length > 4096) throw corrupt('not ak1 text');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(wrapped.slice(PREFIX.length), 'base64url').toString('utf8')) as Record<string, unknown>;
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
  try {
    const privateKey = createPrivateKey(privateKeyPem);
    const epk = createPublicKey({ key: field('epk'), format: 'der', type: 'spki' });
    const key = wrappingKey(diffieHellman({ privateKey, publicKey: epk }), field('salt', 16));
    const decipher = createDecipheriv('aes-256-gcm', key, field('nonce', 12));
    decipher.setAAD(spkiDer(createPublicKey(privateKey)));
    decipher.setAuthTag(sealed.subarray(96));
    const plain = Buffer.concat([decipher.update(sealed.subarray(0, 96)), decipher.final()]);
    return {
      encKey: Buffer.from(plain.subarray(0, 32)),
      idKey: Buffer.from(plain.subarray(32, 64)),
      chunkerKey: Buffer.from(plain.subarray(64, 96)),
    };
  } catch (e) {
    if (e instanceof CairnError) throw e;
    throw corrupt('they do not open with this agent key', e);
  }
}

// Vault keys: three random secrets, stored only wrapped by a passphrase. The wrapping key comes
// from argon2id (64 MiB, 3 passes); the three keys are sealed together with AES-256-GCM, the KDF
// parameters bound as associated data, so a wrong passphrase and an altered file look the same.
// At most two derivations run at once per process: each holds 64 MiB.
import { argon2, createCipheriv, createDecipheriv, createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { CairnError } from './errors.ts';
import { Slots } from './slots.ts';

export type VaultKeys = {
  encKey: Buffer; // 32 bytes: root of per-blob AES-256-GCM subkeys
  idKey: Buffer; // 32 bytes: chunk id = HMAC-SHA256(idKey, plaintext)
  chunkerKey: Buffer; // 32 bytes: seeds the FastCDC gear table
};

/** JSON-safe wrapped form, stored in the vault's config (no plain secret). */
export type KeyFile = {
  version: 1;
  kdf: {
    name: 'argon2id';
    memoryKiB: number;
    passes: number;
    parallelism: number;
    salt: string /* base64 */;
  };
  nonce: string; // base64
  sealed: string; // base64 AES-256-GCM ciphertext+tag of the three keys
  /** the vault's random id (16 bytes, hex) that agent copies (ak2) are bound to; absent in vaults made before it */
  vaultId?: string;
  /** keyCheck(keys): names the keys without revealing them; absent until a console first unwraps an older vault */
  check?: string;
};

const KDF_MEMORY_KIB = 64 * 1024;
const KDF_PASSES = 3;
const KDF_PARALLELISM = 1;
// Bounds for files we did not write: enough room for stronger settings, not for a memory bomb.
const MAX_MEMORY_KIB = 1024 * 1024;
const MAX_PASSES = 64;
const MAX_PARALLELISM = 16;
const KEYS_LENGTH = 96;
const TAG_LENGTH = 16;

export function generateVaultKeys(): VaultKeys {
  return { encKey: randomBytes(32), idKey: randomBytes(32), chunkerKey: randomBytes(32) };
}

/** A new vault's random id (what agent-wrapped copies name, core/agent-keys.ts). */
export function newVaultId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The key-check value: HMAC-SHA256(idKey, "cairn key check v1"), hex. Keys never change, so
 * neither does this; it says whether keys are a vault's without revealing anything of them.
 */
export function keyCheck(keys: VaultKeys): string {
  return createHmac('sha256', keyObjectOf(keys.idKey)).update('cairn key check v1').digest('hex');
}

/** HMAC-SHA256(idKey, data): the chunk id. */
export function chunkId(keys: VaultKeys, data: Uint8Array): Buffer {
  return createHmac('sha256', keyObjectOf(keys.idKey)).update(data).digest();
}

// --- argon2id, two at a time ---

const MAX_CONCURRENT_DERIVATIONS = 2;
const derivations = new Slots(MAX_CONCURRENT_DERIVATIONS);

function deriveWrappingKey(passphrase: string, kdf: KeyFile['kdf']): Promise<Buffer> {
  return derivations.run(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        argon2(
          'argon2id',
          {
            message: Buffer.from(passphrase, 'utf8'),
            nonce: Buffer.from(kdf.salt, 'base64'),
            parallelism: kdf.parallelism,
            memory: kdf.memoryKiB,
            passes: kdf.passes,
            tagLength: 32,
          },
          (err, key) =>
            err
              ? reject(new CairnError('E_BAD_REQUEST', `key derivation failed: ${err.message}`))
              : resolve(key),
        );
      }),
  );
}

function associatedData(file: Pick<KeyFile, 'version' | 'kdf'>): Buffer {
  const k = file.kdf;
  return Buffer.from(
    `cairn keyfile v${file.version} ${k.name} m=${k.memoryKiB} t=${k.passes} p=${k.parallelism}`,
  );
}

/** The key file sealing `keys` with `passphrase`, carrying their check value and `vaultId` when given. */
export async function wrapKeys(keys: VaultKeys, passphrase: string, vaultId?: string): Promise<KeyFile> {
  for (const k of [keys.encKey, keys.idKey, keys.chunkerKey])
    if (k.length !== 32) throw new CairnError('E_INTERNAL', 'vault keys must be 32 bytes each');
  const kdf: KeyFile['kdf'] = {
    name: 'argon2id',
    memoryKiB: KDF_MEMORY_KIB,
    passes: KDF_PASSES,
    parallelism: KDF_PARALLELISM,
    salt: randomBytes(16).toString('base64'),
  };
  const wrappingKey = await deriveWrappingKey(passphrase, kdf);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', wrappingKey, nonce);
  cipher.setAAD(associatedData({ version: 1, kdf }));
  const ct = Buffer.concat([
    cipher.update(Buffer.concat([keys.encKey, keys.idKey, keys.chunkerKey])),
    cipher.final(),
  ]);
  return {
    version: 1,
    kdf,
    nonce: nonce.toString('base64'),
    sealed: Buffer.concat([ct, cipher.getAuthTag()]).toString('base64'),
    ...(vaultId !== undefined ? { vaultId } : {}),
    check: keyCheck(keys),
  };
}

/** Throws CairnError E_BAD_PASSPHRASE when the passphrase is wrong (or the file was altered). */
export async function unwrapKeys(file: KeyFile, passphrase: string): Promise<VaultKeys> {
  const checked = parseKeyFile(file);
  const wrappingKey = await deriveWrappingKey(passphrase, checked.kdf);
  const sealed = Buffer.from(checked.sealed, 'base64');
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', wrappingKey, Buffer.from(checked.nonce, 'base64'));
    decipher.setAAD(associatedData(checked));
    decipher.setAuthTag(sealed.subarray(KEYS_LENGTH));
    plain = Buffer.concat([decipher.update(sealed.subarray(0, KEYS_LENGTH)), decipher.final()]);
  } catch (e) {
    throw new CairnError('E_BAD_PASSPHRASE', 'wrong passphrase for vault key file', { cause: e });
  }
  const keys = {
    encKey: Buffer.from(plain.subarray(0, 32)),
    idKey: Buffer.from(plain.subarray(32, 64)),
    chunkerKey: Buffer.from(plain.subarray(64, 96)),
  };
  // the check value sits outside the seal: one that names other keys is a file someone altered
  if (checked.check !== undefined && checked.check !== keyCheck(keys))
    throw new CairnError('E_CORRUPT', "vault key file: its key-check value does not match the keys it seals (the file was altered)");
  return keys;
}

// --- validation of untrusted key files ---

function bad(what: string): CairnError {
  return new CairnError('E_BAD_REQUEST', `invalid vault key file: ${what}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes canonical base64 of exactly `length` bytes (or at least `length` when `atLeast`). */
function base64Field(v: unknown, what: string, length: number, atLeast = false): string {
  if (typeof v !== 'string' || v.length > 1024) throw bad(`${what} must be a base64 string`);
  const bytes = Buffer.from(v, 'base64');
  if (bytes.toString('base64') !== v) throw bad(`${what} is not canonical base64`);
  if (atLeast ? bytes.length < length : bytes.length !== length) throw bad(`${what} has the wrong length`);
  return v;
}

function intField(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw bad(`${what} must be an integer in [${min}, ${max}]`);
  return v;
}

/** Validates an untrusted object as a KeyFile (E_BAD_REQUEST otherwise). */
export function parseKeyFile(value: unknown): KeyFile {
  if (!isRecord(value)) throw bad('not an object');
  if (value.version !== 1) throw bad('unknown version');
  const kdf = value.kdf;
  if (!isRecord(kdf) || kdf.name !== 'argon2id') throw bad('kdf must be argon2id');
  const parallelism = intField(kdf.parallelism, 'kdf.parallelism', 1, MAX_PARALLELISM);
  return {
    version: 1,
    kdf: {
      name: 'argon2id',
      memoryKiB: intField(kdf.memoryKiB, 'kdf.memoryKiB', 8 * parallelism, MAX_MEMORY_KIB),
      passes: intField(kdf.passes, 'kdf.passes', 1, MAX_PASSES),
      parallelism,
      salt: base64Field(kdf.salt, 'kdf.salt', 16, true),
    },
    nonce: base64Field(value.nonce, 'nonce', 12),
    sealed: base64Field(value.sealed, 'sealed', KEYS_LENGTH + TAG_LENGTH),
    ...(value.vaultId !== undefined ? { vaultId: hexField(value.vaultId, 'vaultId', 32) } : {}),
    ...(value.check !== undefined ? { check: hexField(value.check, 'check', 64) } : {}),
  };
}

function hexField(v: unknown, what: string, digits: number): string {
  if (typeof v !== 'string' || v.length !== digits || !/^[0-9a-f]+$/.test(v)) throw bad(`${what} must be ${digits} lowercase hex digits`);
  return v;
}

// Node re-imports a raw key Buffer on every createHmac/hkdfSync call (~20 µs, more than the
// work on a small blob); a KeyObject made once per key Buffer avoids that.
const keyObjects = new WeakMap<Buffer, KeyObject>();

/** The KeyObject for one of a vault's key Buffers, made once. */
export function keyObjectOf(key: Buffer): KeyObject {
  let k = keyObjects.get(key);
  if (!k) {
    k = createSecretKey(key);
    keyObjects.set(key, k);
  }
  return k;
}

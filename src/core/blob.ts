// Sealing and opening blobs (docs/architecture.md, "Blobs"):
//   plaintext := flag u8 (0 raw, 1 zstd) || payload
//   sealed    := version u8 (=1) || salt[16] || nonce[12] || AES-256-GCM(subkey, nonce, plaintext, aad) || tag[16]
//   subkey    := HKDF-SHA256(encKey, salt, "cairn blob v1");  aad := type u8 || id[32]
// The salt travels with the blob and the AAD names only its own type and id, so a sealed blob can
// move between packs without keys. Opening re-derives the id from the payload for data and tree
// blobs, so a blob that decrypts but is not what its id says is refused too.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { compressIfWorth, decompress } from './compress.ts';
import { CairnError } from './errors.ts';
import { freeOwned } from './free-owned.ts';
import { keyObjectOf, type VaultKeys } from './keys.ts';

export const BLOB_DATA = 0;
export const BLOB_TREE = 1;
export const BLOB_SNAPSHOT = 2;
export type BlobType = 0 | 1 | 2;

const VERSION = 1;
const SALT_SIZE = 16;
const NONCE_SIZE = 12;
const TAG_SIZE = 16;
const HEADER_SIZE = 1 + SALT_SIZE + NONCE_SIZE;
/** Bytes a sealed blob adds to its stored payload: header, flag byte, tag. */
export const SEAL_OVERHEAD = HEADER_SIZE + 1 + TAG_SIZE;
const HKDF_INFO = Buffer.from('cairn blob v1');

function subkey(encKey: Buffer, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', keyObjectOf(encKey), salt, HKDF_INFO, 32));
}

function associatedData(type: BlobType, id: Uint8Array): Buffer {
  if (id.length !== 32) throw new CairnError('E_INTERNAL', 'blob id must be 32 bytes');
  const aad = Buffer.allocUnsafe(33);
  aad[0] = type;
  aad.set(id, 1);
  return aad;
}

/**
 * Compresses when worth it (probe first), then seals: the sealed blob in three parts that joined
 * are its bytes — the header with the encrypted flag byte, the encrypted payload, the tag.
 * `id` is the chunk id (HMAC of `plain`). Node cannot encrypt into a given buffer, so the payload
 * is encrypted in one call and its output kept as it is: no copy, and no run of short-lived
 * slices in the malloc heap (those left an idle agent's heap fragmented; docs/performance.md).
 */
export function sealBlobParts(
  keys: VaultKeys,
  type: BlobType,
  id: Uint8Array,
  plain: Uint8Array,
  level?: number,
): [head: Buffer, body: Buffer, tag: Buffer] {
  const { flag, bytes } = compressIfWorth(plain, level);
  const head = Buffer.allocUnsafe(HEADER_SIZE + 1);
  head[0] = VERSION;
  randomFillSync(head, 1, SALT_SIZE + NONCE_SIZE);
  const salt = head.subarray(1, 1 + SALT_SIZE);
  const nonce = head.subarray(1 + SALT_SIZE, HEADER_SIZE);
  const cipher = createCipheriv('aes-256-gcm', subkey(keys.encKey, salt), nonce);
  cipher.setAAD(associatedData(type, id));
  // GCM is a stream mode: update() returns exactly as many bytes as it is given.
  cipher.update(Buffer.of(flag)).copy(head, HEADER_SIZE);
  const body = cipher.update(bytes);
  if (bytes !== plain) freeOwned(bytes); // zstd's output, encrypted now
  cipher.final();
  return [head, body, cipher.getAuthTag()];
}

/** sealBlobParts joined into one buffer. */
export function sealBlob(keys: VaultKeys, type: BlobType, id: Uint8Array, plain: Uint8Array, level?: number): Buffer {
  return Buffer.concat(sealBlobParts(keys, type, id, plain, level));
}

/** Authenticates, decrypts, decompresses, and re-checks HMAC(idKey, plain) == id. E_CORRUPT otherwise. */
export function openBlob(keys: VaultKeys, type: BlobType, id: Uint8Array, sealed: Uint8Array): Buffer {
  if (id.length !== 32) throw new CairnError('E_CORRUPT', 'blob id must be 32 bytes');
  if (sealed.length < SEAL_OVERHEAD) throw new CairnError('E_CORRUPT', 'sealed blob is truncated');
  if (sealed[0] !== VERSION) throw new CairnError('E_CORRUPT', `unknown sealed blob version ${sealed[0]}`);
  const salt = sealed.subarray(1, 1 + SALT_SIZE);
  const nonce = sealed.subarray(1 + SALT_SIZE, HEADER_SIZE);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', subkey(keys.encKey, salt), nonce);
    decipher.setAAD(associatedData(type, id));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
    const body = decipher.update(sealed.subarray(HEADER_SIZE, sealed.length - TAG_SIZE));
    decipher.final(); // throws when the tag does not match
    plaintext = body;
  } catch (e) {
    throw new CairnError(
      'E_CORRUPT',
      'blob failed authentication (wrong key, or altered or truncated data)',
      {
        cause: e,
      },
    );
  }
  const payload = decompress(plaintext[0]!, plaintext.subarray(1));
  if (payload.buffer !== plaintext.buffer) freeOwned(plaintext); // decompressed: the compressed bytes are done
  if (type !== BLOB_SNAPSHOT) {
    const actual = createHmac('sha256', keyObjectOf(keys.idKey)).update(payload).digest();
    if (!timingSafeEqual(actual, id)) throw new CairnError('E_CORRUPT', 'blob content does not match its id');
  }
  return payload;
}

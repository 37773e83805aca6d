// Sealing and opening blobs (docs/architecture.md, "Blobs"):
//   plaintext := flag u8 (0 raw, 1 zstd) || payload
//   sealed    := version u8 (=1) || salt[16] || nonce[12] || AES-256-GCM(subkey, nonce, plaintext, aad) || tag[16]
//   subkey    := HKDF-SHA256(encKey, salt, "cairn blob v1");  aad := type u8 || id[32]
// The salt travels with the blob and the AAD names only its own type and id, so a sealed blob can
// move between packs without keys. Opening re-derives the id from the payload for data and tree
// blobs, so a blob that decrypts but is not what its id says is refused too.
import {
  type CipherGCM,
  type Cipheriv,
  createCipheriv,
  createDecipheriv,
  type Decipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { compressIfWorth, decompress, FLAG_ZSTD, MAX_PLAIN_SIZE, type OutputBuffers } from './compress.ts';
import { CairnError } from './errors.ts';
import { freeOwned, ScratchBuffer } from './free-owned.ts';
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

/**
 * The blob's AES key, as a KeyObject: a cipher made from a KeyObject starts in ~2 µs, from the
 * same key as a Buffer in ~12 µs (Node validates and copies a raw key on every cipher), which
 * for a blob's derivation and cipher together is 8 instead of 19 µs (~2,500 blobs per GiB).
 */
function subkey(encKey: Buffer, salt: Uint8Array): KeyObject {
  return createSecretKey(new Uint8Array(hkdfSync('sha256', keyObjectOf(encKey), salt, HKDF_INFO, 32)));
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
 * `id` is the chunk id (HMAC of `plain`). The payload is encrypted piece by piece into one buffer
 * of its size (cipherInto): each piece's output is freed as soon as it is copied, so the heap
 * reuses one piece's memory for the next instead of collecting a run of slices that left an idle
 * agent's heap fragmented (docs/performance.md, "fourth part").
 */
export function sealBlobParts(
  keys: VaultKeys,
  type: BlobType,
  id: Uint8Array,
  plain: Uint8Array,
  level?: number,
): [head: Buffer, body: Buffer, tag: Buffer] {
  const { flag, bytes, borrowed } = compressIfWorth(plain, level);
  const head = Buffer.allocUnsafe(HEADER_SIZE + 1);
  const cipher = startSealing(keys, type, id, flag, head, 0);
  const body = Buffer.allocUnsafeSlow(bytes.length);
  cipherInto(cipher, bytes, body, 0);
  if (bytes !== plain && !borrowed) freeOwned(bytes); // zstd's output, encrypted now (a borrowed one stays its thread's)
  cipher.final();
  return [head, body, cipher.getAuthTag()];
}

/**
 * sealBlobParts' bytes written into `out` from `at`, joined, with no buffer of their own: the
 * sealed length. `out` must have room for the worst case, `plain.length + SEAL_OVERHEAD` (a
 * payload is compressed only when that makes it smaller).
 */
export function sealBlobInto(keys: VaultKeys, type: BlobType, id: Uint8Array, plain: Uint8Array, out: Buffer, at: number, level?: number): number {
  if (out.length - at < plain.length + SEAL_OVERHEAD) throw new CairnError('E_INTERNAL', 'no room to seal a blob into');
  const { flag, bytes, borrowed } = compressIfWorth(plain, level);
  const cipher = startSealing(keys, type, id, flag, out, at);
  let end = cipherInto(cipher, bytes, out, at + HEADER_SIZE + 1);
  if (bytes !== plain && !borrowed) freeOwned(bytes);
  cipher.final();
  end += cipher.getAuthTag().copy(out, end);
  return end - at;
}

/** Writes a blob's header and its encrypted flag byte into `out` at `at`; the cipher, ready for the payload. */
function startSealing(keys: VaultKeys, type: BlobType, id: Uint8Array, flag: number, out: Buffer, at: number): CipherGCM {
  out[at] = VERSION;
  randomFillSync(out, at + 1, SALT_SIZE + NONCE_SIZE);
  const salt = out.subarray(at + 1, at + 1 + SALT_SIZE);
  const nonce = out.subarray(at + 1 + SALT_SIZE, at + HEADER_SIZE);
  const cipher = createCipheriv('aes-256-gcm', subkey(keys.encKey, salt), nonce);
  cipher.setAAD(associatedData(type, id));
  // GCM is a stream mode: update() returns exactly as many bytes as it is given.
  cipher.update(Buffer.of(flag)).copy(out, at + HEADER_SIZE);
  return cipher;
}

/** sealBlobParts joined into one buffer. */
export function sealBlob(keys: VaultKeys, type: BlobType, id: Uint8Array, plain: Uint8Array, level?: number): Buffer {
  return Buffer.concat(sealBlobParts(keys, type, id, plain, level));
}

/**
 * Ciphers run over pieces of this size, each piece's output copied where it belongs and freed at
 * once. One call over a whole chunk made two fresh allocations of its size (Node allocates
 * len + 1 for a stream cipher's output, then len, and copies), each above the 64 KiB mmap
 * threshold (bin/cairn) a new mapping faulted in page by page; a piece's output stays in the
 * malloc heap, where the freed piece is reused by the next (docs/performance.md, "eighth part").
 */
const CIPHER_PIECE = 32 * 1024;

/** Runs `input` through the cipher in pieces, writing the output into `out` from `outAt`; returns where it ended. */
function cipherInto(cipher: Cipheriv | Decipheriv, input: Uint8Array, out: Buffer, outAt: number): number {
  for (let at = 0; at < input.length; at += CIPHER_PIECE) {
    const piece = cipher.update(input.subarray(at, at + CIPHER_PIECE));
    outAt += piece.copy(out, outAt);
    freeOwned(piece);
  }
  return outAt;
}

/**
 * The deciphered compressed payload of the blob being opened, reused from one blob to the next
 * (openBlob is synchronous: one per thread serves). Payloads above 8 MiB get their own.
 * Used only when the caller lends output buffers (a restore's fetching worker, which ends with
 * its restore), so no long-lived thread keeps it.
 */
const scratch = new ScratchBuffer(8 * 1024 * 1024);

/**
 * Authenticates, decrypts, decompresses, and re-checks HMAC(idKey, plain) == id. E_CORRUPT
 * otherwise. With `output`, the plaintext is put in a buffer it lends (the restore's workers
 * reuse theirs; docs/performance.md, "eighth part"), and what it lent for a blob that failed is
 * given back.
 */
export function openBlob(keys: VaultKeys, type: BlobType, id: Uint8Array, sealed: Uint8Array, output?: OutputBuffers): Buffer {
  const payload = openBlobUnchecked(keys, type, id, sealed, output);
  if (type !== BLOB_SNAPSHOT) {
    try {
      checkBlobId(keys, id, payload);
    } catch (e) {
      letGo(payload, output);
      throw e;
    }
  }
  return payload;
}

/** E_CORRUPT unless HMAC(idKey, payload) == id: the check openBlob ends with. */
export function checkBlobId(keys: VaultKeys, id: Uint8Array, payload: Uint8Array): void {
  const actual = createHmac('sha256', keyObjectOf(keys.idKey)).update(payload).digest();
  if (!timingSafeEqual(actual, id)) throw new CairnError('E_CORRUPT', 'blob content does not match its id');
}

/**
 * openBlob without its last step: authenticated (AES-GCM, the id and type in its associated
 * data), decrypted and decompressed, but not yet checked against its id. Whoever calls this must
 * run checkBlobId before any of it is used: a restore's fetching worker leaves that to the main
 * thread, which had the CPU to spare (docs/performance.md, "ninth part").
 */
export function openBlobUnchecked(keys: VaultKeys, type: BlobType, id: Uint8Array, sealed: Uint8Array, output?: OutputBuffers): Buffer {
  if (id.length !== 32) throw new CairnError('E_CORRUPT', 'blob id must be 32 bytes');
  if (sealed.length < SEAL_OVERHEAD) throw new CairnError('E_CORRUPT', 'sealed blob is truncated');
  if (sealed[0] !== VERSION) throw new CairnError('E_CORRUPT', `unknown sealed blob version ${sealed[0]}`);
  const salt = sealed.subarray(1, 1 + SALT_SIZE);
  const nonce = sealed.subarray(1 + SALT_SIZE, HEADER_SIZE);
  const encrypted = sealed.subarray(HEADER_SIZE, sealed.length - TAG_SIZE);
  let flag = -1;
  // compressed: the reused scratch buffer, which zstd reads from; raw: the blob's own plaintext
  let bytes: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', subkey(keys.encKey, salt), nonce);
    decipher.setAAD(associatedData(type, id));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
    const first = decipher.update(encrypted.subarray(0, CIPHER_PIECE));
    flag = first[0]!;
    const length = encrypted.length - 1;
    // (the scratch buffer only where plaintexts are lent too, in a restore's fetching worker: a
    // thread that opens a tree now and then, like the agent's main thread, keeps none)
    if (flag === FLAG_ZSTD) bytes = output ? scratch.get(length) : Buffer.allocUnsafeSlow(length);
    else bytes = output ? output.take(length) : Buffer.allocUnsafeSlow(length);
    const after = first.copy(bytes, 0, 1);
    freeOwned(first);
    cipherInto(decipher, encrypted.subarray(CIPHER_PIECE), bytes, after);
    decipher.final(); // throws when the tag does not match: nothing deciphered is used before
    bytes = bytes.subarray(0, length);
  } catch (e) {
    if (bytes && !scratch.holds(bytes)) letGo(bytes, output);
    throw new CairnError(
      'E_CORRUPT',
      'blob failed authentication (wrong key, or altered or truncated data)',
      {
        cause: e,
      },
    );
  }
  let payload: Buffer;
  try {
    payload = decompress(flag, bytes, MAX_PLAIN_SIZE, output);
  } catch (e) {
    if (flag !== FLAG_ZSTD) letGo(bytes, output); // refused raw (too large) or an unknown flag
    throw e;
  } finally {
    if (flag === FLAG_ZSTD && !scratch.holds(bytes)) freeOwned(bytes); // a large compressed payload's own buffer
  }
  return payload;
}

/** A plaintext buffer no one will see: back to whoever lent it, or freed. */
function letGo(plain: Buffer, output: OutputBuffers | undefined): void {
  if (output) output.give(plain);
  else freeOwned(plain);
}

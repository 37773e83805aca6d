// The self-describing pack format (docs/architecture.md, "Packs"):
//   pack   := "CAIRNPK1" entry* index footer
//   entry  := "BLOB" type u8 id[32] length u32be sealed[length]
//   index  := "INDX" count u32be (type u8 id[32] offset u32be length u32be)*count
//   footer := indexLength u32be "CPKEND01"
// PackBuilder assembles one (small blobs copied into slabs, large ones by reference);
// parsePackTail reads a stored one's index; pack-verifier.ts checks a whole pack as it streams in.
import { createHash, type Hash } from 'node:crypto';
import type { BlobType } from './blob.ts';
import { CairnError } from './errors.ts';

export type PackEntry = { type: BlobType; id: Buffer; offset: number; length: number };

export const PACK_MAGIC = Buffer.from('CAIRNPK1', 'latin1');
export const ENTRY_MAGIC = Buffer.from('BLOB', 'latin1');
export const INDEX_MAGIC = Buffer.from('INDX', 'latin1');
export const FOOTER_MAGIC = Buffer.from('CPKEND01', 'latin1');

export const PACK_HEADER_SIZE = 8;
export const ENTRY_HEADER_SIZE = 4 + 1 + 32 + 4;
export const INDEX_RECORD_SIZE = 1 + 32 + 4 + 4;
export const PACK_FOOTER_SIZE = 4 + 8;
/** A pack never exceeds this (the data plane refuses larger uploads; offsets are u32). */
export const MAX_PACK_SIZE = 64 * 1024 * 1024;
/** Smallest possible sealed blob: version, salt, nonce, flag byte, tag (see blob.ts). */
export const MIN_SEALED_SIZE = 1 + 16 + 12 + 1 + 16;

export function corrupt(what: string): CairnError {
  return new CairnError('E_CORRUPT', `pack is corrupt: ${what}`);
}

export function isBlobType(t: number): t is BlobType {
  return t === 0 || t === 1 || t === 2;
}

/** The length of a sealed blob given as one buffer or as parts. */
export function sealedLength(sealed: Uint8Array | readonly Uint8Array[]): number {
  if (sealed instanceof Uint8Array) return sealed.length;
  let n = 0;
  for (const part of sealed) n += part.length;
  return n;
}

/** Writes an entry's header ("BLOB", type, id, sealed length) into `out` at `at`; the sealed bytes follow it. */
export function writeEntryHeader(out: Buffer, at: number, type: BlobType, id: Uint8Array, length: number): void {
  ENTRY_MAGIC.copy(out, at);
  out[at + 4] = type;
  out.set(id, at + 5);
  out.writeUInt32BE(length, at + 37);
}

/** Sealed blobs up to this size are copied into the builder's slabs (no objects kept per blob). */
const COPIED_BLOB_MAX = 16 * 1024;
/** Slab size for entry headers and copied blobs (its own mapping, freed whole once sent). */
const SLAB_SIZE = 256 * 1024;

/** A finished pack: its buffers in order, size, hex SHA-256 name ('' unhashed), and its entries (decoded on demand). */
export type BuiltPack = {
  buffers: Buffer[];
  size: number;
  name: string;
  /** the builder's own slabs: the caller may free them once the buffers are sent */
  slabs: Buffer[];
  readonly entries: PackEntry[];
};

/**
 * Collects sealed blobs into one pack and hashes as it goes, so finish() costs only the index.
 * Entry headers, and blobs of up to COPIED_BLOB_MAX, are copied into slabs; larger blobs are
 * kept by reference (callers must not reuse them). The index records are kept in one buffer, in
 * their on-disk form: a pack of 16,384 tiny files' blobs holds their bytes, not ~6 objects each.
 * With `{ hash: false }` it does not hash and finish() names the pack '' (the storage server
 * names it on upload).
 */
export class PackBuilder {
  #buffers: Buffer[] = [PACK_MAGIC];
  #slabs: Buffer[] = [];
  #slab: Buffer | undefined;
  /** where the slab's bytes not yet in #buffers begin, and where its free room begins */
  #slabStart = 0;
  #slabUsed = 0;
  /** the index as it goes on disk: "INDX", its count (written at finish), the records */
  #index = newIndex(64);
  #count = 0;
  #size = PACK_HEADER_SIZE;
  #hash: Hash | undefined;
  #finished = false;

  constructor(options: { hash?: boolean } = {}) {
    if (options.hash !== false) this.#hash = createHash('sha256').update(PACK_MAGIC);
  }

  /** Adds one sealed blob, as one buffer or as parts that joined are its bytes (sealBlobParts). */
  add(type: BlobType, id: Uint8Array, sealed: Uint8Array | readonly Uint8Array[]): void {
    if (id.length !== 32) throw new CairnError('E_INTERNAL', 'blob id must be 32 bytes');
    const parts = sealed instanceof Uint8Array ? [sealed] : sealed;
    const length = sealedLength(sealed);
    const entryEnd = this.#admit(length);
    const copied = length <= COPIED_BLOB_MAX;
    const slab = this.#room(ENTRY_HEADER_SIZE + (copied ? length : 0));
    let at = this.#slabUsed;
    writeEntryHeader(slab, at, type, id, length);
    at += ENTRY_HEADER_SIZE;
    if (copied)
      for (const part of parts) {
        slab.set(part, at);
        at += part.length;
      }
    this.#slabUsed = at;
    if (!copied) {
      this.#flushSlab();
      for (const part of parts) this.#push(Buffer.isBuffer(part) ? part : Buffer.from(part.buffer, part.byteOffset, part.length));
    }
    this.#record(type, id, this.#size + ENTRY_HEADER_SIZE, length);
    this.#size = entryEnd;
  }

  /**
   * Adds one whole entry, its header included (writeEntryHeader), kept by reference: entries
   * that lie back to back in one buffer (a backup's seal ring) go out as one buffer.
   */
  addEntry(entry: Buffer): void {
    const length = entry.length - ENTRY_HEADER_SIZE;
    if (length < 0 || !entry.subarray(0, 4).equals(ENTRY_MAGIC) || entry.readUInt32BE(37) !== length || !isBlobType(entry[4]!))
      throw new CairnError('E_INTERNAL', 'not a whole pack entry');
    const entryEnd = this.#admit(length);
    this.#flushSlab();
    this.#push(entry);
    this.#record(entry[4] as BlobType, entry.subarray(5, 37), this.#size + ENTRY_HEADER_SIZE, length);
    this.#size = entryEnd;
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes so far: the pack header and the entries (index and footer not yet counted). */
  get size(): number {
    return this.#size;
  }

  /** The whole pack as buffers (for writev / streaming). */
  finish(): BuiltPack {
    if (this.#finished) throw new CairnError('E_INTERNAL', 'pack builder finished twice');
    this.#finished = true;
    this.#flushSlab();
    const indexLength = 8 + this.#count * INDEX_RECORD_SIZE;
    const tail = Buffer.allocUnsafeSlow(indexLength + PACK_FOOTER_SIZE);
    this.#index.writeUInt32BE(this.#count, 4);
    this.#index.copy(tail, 0, 0, indexLength);
    tail.writeUInt32BE(indexLength, indexLength);
    FOOTER_MAGIC.copy(tail, indexLength + 4);
    this.#push(tail);
    const size = this.#size + tail.length;
    return {
      buffers: this.#buffers,
      size,
      name: this.#hash?.digest('hex') ?? '',
      slabs: this.#slabs,
      get entries() {
        return parsePackTail(tail, size);
      },
    };
  }

  /** Where an entry of `length` sealed bytes would end; refused after finish() or past MAX_PACK_SIZE (its index record and the footer counted). */
  #admit(length: number): number {
    if (this.#finished) throw new CairnError('E_INTERNAL', 'pack builder used after finish()');
    const entryEnd = this.#size + ENTRY_HEADER_SIZE + length;
    if (entryEnd + 8 + (this.#count + 1) * INDEX_RECORD_SIZE + PACK_FOOTER_SIZE > MAX_PACK_SIZE)
      throw new CairnError('E_TOO_LARGE', `pack would exceed ${MAX_PACK_SIZE} bytes`);
    return entryEnd;
  }

  /** The current slab with `bytes` free, after a new one if it lacks them. */
  #room(bytes: number): Buffer {
    if (this.#slab && this.#slab.length - this.#slabUsed >= bytes) return this.#slab;
    this.#flushSlab();
    this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, bytes));
    this.#slabs.push(this.#slab);
    this.#slabStart = this.#slabUsed = 0;
    return this.#slab;
  }

  /** Hands the slab's bytes written since the last flush to the pack (keeps the entries in order). */
  #flushSlab(): void {
    if (!this.#slab || this.#slabUsed === this.#slabStart) return;
    this.#push(this.#slab.subarray(this.#slabStart, this.#slabUsed));
    this.#slabStart = this.#slabUsed;
  }

  #push(buf: Buffer): void {
    this.#hash?.update(buf);
    const last = this.#buffers.at(-1)!;
    // the continuation of the last buffer in the same memory: one buffer, one write
    if (last.buffer === buf.buffer && last.byteOffset + last.length === buf.byteOffset)
      this.#buffers[this.#buffers.length - 1] = Buffer.from(buf.buffer, last.byteOffset, last.length + buf.length);
    else this.#buffers.push(buf);
  }

  #record(type: BlobType, id: Uint8Array, offset: number, length: number): void {
    const at = 8 + this.#count * INDEX_RECORD_SIZE;
    if (at + INDEX_RECORD_SIZE > this.#index.length) {
      const grown = newIndex(this.#count * 2);
      this.#index.copy(grown, 0, 0, at);
      this.#index = grown;
    }
    this.#index[at] = type;
    this.#index.set(id, at + 1);
    this.#index.writeUInt32BE(offset, at + 33);
    this.#index.writeUInt32BE(length, at + 37);
    this.#count++;
  }
}

/** Room for an index of `records` records, its magic in place. */
function newIndex(records: number): Buffer {
  const index = Buffer.allocUnsafeSlow(8 + records * INDEX_RECORD_SIZE);
  INDEX_MAGIC.copy(index, 0);
  return index;
}

/** Bytes to fetch from a pack's end to be sure to hold its footer and index (then call parsePackTail). */
export function packIndexLength(footer: Uint8Array): number {
  if (footer.length < PACK_FOOTER_SIZE) throw corrupt('footer truncated');
  const f = Buffer.from(
    footer.buffer,
    footer.byteOffset + footer.length - PACK_FOOTER_SIZE,
    PACK_FOOTER_SIZE,
  );
  if (!f.subarray(4).equals(FOOTER_MAGIC)) throw corrupt('bad footer magic');
  return f.readUInt32BE(0);
}

/**
 * Reads the index from the last bytes of a pack of `packSize` bytes (for range reads; the entries
 * are not walked, so the sealed blobs still need opening to be trusted). `tail` must hold at least
 * index + footer.
 */
export function parsePackTail(tail: Uint8Array, packSize: number): PackEntry[] {
  const indexLength = packIndexLength(tail);
  if (indexLength < 8 || tail.length < indexLength + PACK_FOOTER_SIZE) throw corrupt('index truncated');
  const indexStart = packSize - PACK_FOOTER_SIZE - indexLength;
  if (indexStart < PACK_HEADER_SIZE) throw corrupt('index length larger than the pack');
  const base = tail.byteOffset + tail.length - PACK_FOOTER_SIZE - indexLength;
  const index = Buffer.from(tail.buffer, base, indexLength);
  if (!index.subarray(0, 4).equals(INDEX_MAGIC)) throw corrupt('bad index magic');
  const count = index.readUInt32BE(4);
  if (8 + count * INDEX_RECORD_SIZE !== indexLength) throw corrupt('index count disagrees with its length');
  const entries: PackEntry[] = [];
  let expectedOffset = PACK_HEADER_SIZE + ENTRY_HEADER_SIZE;
  for (let i = 0, at = 8; i < count; i++, at += INDEX_RECORD_SIZE) {
    const type = index[at]!;
    const offset = index.readUInt32BE(at + 33);
    const length = index.readUInt32BE(at + 37);
    if (!isBlobType(type)) throw corrupt(`unknown blob type ${type} in index`);
    if (offset !== expectedOffset || length < MIN_SEALED_SIZE)
      throw corrupt(`index record ${i} is inconsistent`);
    expectedOffset = offset + length + ENTRY_HEADER_SIZE;
    entries.push({ type, id: Buffer.from(index.subarray(at + 1, at + 33)), offset, length });
  }
  if (expectedOffset - ENTRY_HEADER_SIZE !== indexStart) throw corrupt('index does not cover the pack');
  return entries;
}

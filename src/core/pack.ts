// The self-describing pack format (docs/architecture.md, "Packs"):
//   pack   := "CAIRNPK1" entry* index footer
//   entry  := "BLOB" type u8 id[32] length u32be sealed[length]
//   index  := "INDX" count u32be (type u8 id[32] offset u32be length u32be)*count
//   footer := indexLength u32be "CPKEND01"
// PackBuilder assembles one (small blobs copied into slabs, large ones by reference); PackVerifier
// checks one as it streams in (the storage server never holds an upload twice); parsePack and
// parsePackTail read a stored one.
import { createHash, type Hash } from 'node:crypto';
import type { BlobType } from './blob.ts';
import { CairnError } from './errors.ts';

export type PackEntry = { type: BlobType; id: Buffer; offset: number; length: number };

const PACK_MAGIC = Buffer.from('CAIRNPK1', 'latin1');
const ENTRY_MAGIC = Buffer.from('BLOB', 'latin1');
const INDEX_MAGIC = Buffer.from('INDX', 'latin1');
const FOOTER_MAGIC = Buffer.from('CPKEND01', 'latin1');

export const PACK_HEADER_SIZE = 8;
export const ENTRY_HEADER_SIZE = 4 + 1 + 32 + 4;
export const INDEX_RECORD_SIZE = 1 + 32 + 4 + 4;
export const PACK_FOOTER_SIZE = 4 + 8;
/** A pack never exceeds this (the data plane refuses larger uploads; offsets are u32). */
export const MAX_PACK_SIZE = 64 * 1024 * 1024;
/** Smallest possible sealed blob: version, salt, nonce, flag byte, tag (see blob.ts). */
const MIN_SEALED_SIZE = 1 + 16 + 12 + 1 + 16;

function corrupt(what: string): CairnError {
  return new CairnError('E_CORRUPT', `pack is corrupt: ${what}`);
}

function isBlobType(t: number): t is BlobType {
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

// PackVerifier states: what the next bytes must be.
const S_MAGIC = 0; // pack header
const S_TAG = 1; // "BLOB" or "INDX"
const S_ENTRY_HEADER = 2; // rest of an entry header
const S_SEALED = 3; // sealed bytes of the current entry
const S_INDEX_COUNT = 4;
const S_INDEX_RECORD = 5;
const S_FOOTER = 6;
const S_DONE = 7;

/**
 * Checks a pack as its bytes arrive, chunk by chunk, holding only small headers and the entry
 * list. end() returns the entries, size and hex SHA-256 name, or throws E_CORRUPT on any
 * structural flaw (truncation, bad magic, index disagreeing with the entries, trailing bytes).
 * Flipped bits inside sealed bytes are caught by comparing the name with the expected one.
 */
export class PackVerifier {
  #state = S_MAGIC;
  #need = PACK_HEADER_SIZE; // bytes the current state still wants
  #pending: Buffer = Buffer.allocUnsafe(ENTRY_HEADER_SIZE); // small header being assembled
  #have = 0;
  #size = 0;
  #entries: PackEntry[] = [];
  #indexCount = 0;
  #indexSeen = 0;
  #indexStart = 0;
  #sealedFirst = false;
  #hash: Hash | undefined;
  #maxSize: number;

  constructor(options: { hash?: boolean; maxSize?: number } = {}) {
    this.#hash = options.hash === false ? undefined : createHash('sha256');
    this.#maxSize = options.maxSize ?? MAX_PACK_SIZE;
  }

  update(chunk: Uint8Array): this {
    if (this.#size + chunk.length > this.#maxSize)
      throw new CairnError('E_TOO_LARGE', `pack is larger than ${this.#maxSize} bytes`);
    this.#hash?.update(chunk);
    let at = 0;
    while (at < chunk.length) {
      if (this.#state === S_DONE) throw corrupt('bytes after the footer');
      if (this.#state === S_SEALED) {
        // Skip sealed bytes without copying; only the version byte is looked at.
        if (this.#sealedFirst) {
          if (chunk[at] !== 1) throw corrupt(`unknown blob version at offset ${this.#size + at}`);
          this.#sealedFirst = false;
        }
        const take = Math.min(this.#need, chunk.length - at);
        at += take;
        this.#need -= take;
        if (this.#need === 0) this.#enter(S_TAG, 4);
        continue;
      }
      const take = Math.min(this.#need - this.#have, chunk.length - at);
      this.#pending.set(chunk.subarray(at, at + take), this.#have);
      this.#have += take;
      at += take;
      if (this.#have === this.#need) this.#complete(this.#size + at);
    }
    this.#size += chunk.length;
    return this;
  }

  end(): { entries: PackEntry[]; size: number; name: string } {
    if (this.#state !== S_DONE) throw corrupt(`truncated at ${this.#size} bytes`);
    return { entries: this.#entries, size: this.#size, name: this.#hash?.digest('hex') ?? '' };
  }

  #enter(state: number, need: number): void {
    this.#state = state;
    this.#need = need;
    this.#have = 0;
  }

  /** A small piece (header, tag, index record, footer) is complete; `pos` is the offset just after it. */
  #complete(pos: number): void {
    const p = this.#pending;
    switch (this.#state) {
      case S_MAGIC:
        if (!p.subarray(0, 8).equals(PACK_MAGIC)) throw corrupt('not a Cairn pack (bad magic)');
        this.#enter(S_TAG, 4);
        return;
      case S_TAG:
        if (p.subarray(0, 4).equals(ENTRY_MAGIC)) this.#enter(S_ENTRY_HEADER, ENTRY_HEADER_SIZE - 4);
        else if (p.subarray(0, 4).equals(INDEX_MAGIC)) {
          this.#indexStart = pos - 4;
          this.#enter(S_INDEX_COUNT, 4);
        } else throw corrupt(`bad entry tag at offset ${pos - 4}`);
        return;
      case S_ENTRY_HEADER: {
        const type = p[0]!;
        if (!isBlobType(type)) throw corrupt(`unknown blob type ${type} at offset ${pos - 37}`);
        const length = p.readUInt32BE(33);
        if (length < MIN_SEALED_SIZE) throw corrupt(`blob too short at offset ${pos}`);
        this.#entries.push({ type, id: Buffer.from(p.subarray(1, 33)), offset: pos, length });
        this.#sealedFirst = true;
        this.#enter(S_SEALED, length);
        return;
      }
      case S_INDEX_COUNT:
        this.#indexCount = p.readUInt32BE(0);
        if (this.#indexCount !== this.#entries.length)
          throw corrupt(`index counts ${this.#indexCount} blobs, pack holds ${this.#entries.length}`);
        if (this.#indexCount === 0) this.#enter(S_FOOTER, PACK_FOOTER_SIZE);
        else this.#enter(S_INDEX_RECORD, INDEX_RECORD_SIZE);
        return;
      case S_INDEX_RECORD: {
        const e = this.#entries[this.#indexSeen]!;
        if (
          p[0] !== e.type ||
          !p.subarray(1, 33).equals(e.id) ||
          p.readUInt32BE(33) !== e.offset ||
          p.readUInt32BE(37) !== e.length
        )
          throw corrupt(`index record ${this.#indexSeen} disagrees with the entries`);
        this.#indexSeen++;
        if (this.#indexSeen === this.#indexCount) this.#enter(S_FOOTER, PACK_FOOTER_SIZE);
        else this.#enter(S_INDEX_RECORD, INDEX_RECORD_SIZE);
        return;
      }
      case S_FOOTER: {
        const indexLength = p.readUInt32BE(0);
        if (indexLength !== pos - PACK_FOOTER_SIZE - this.#indexStart)
          throw corrupt('footer index length is wrong');
        if (!p.subarray(4, 12).equals(FOOTER_MAGIC)) throw corrupt('bad footer magic');
        this.#enter(S_DONE, 0);
        return;
      }
    }
  }
}

/** Parses a whole pack, walking entries and cross-checking the index and footer. E_CORRUPT on any flaw. */
export function parsePack(bytes: Uint8Array): PackEntry[] {
  return new PackVerifier({ hash: false, maxSize: Math.max(MAX_PACK_SIZE, bytes.length) }).update(bytes).end()
    .entries;
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

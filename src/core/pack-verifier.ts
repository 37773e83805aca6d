// Checking a whole pack (its format: pack.ts): PackVerifier as its bytes stream in (the storage
// server never holds an upload twice), parsePack over one in memory.
import { createHash, type Hash } from 'node:crypto';
import { CairnError } from './errors.ts';
import {
  corrupt,
  ENTRY_HEADER_SIZE,
  ENTRY_MAGIC,
  FOOTER_MAGIC,
  INDEX_MAGIC,
  INDEX_RECORD_SIZE,
  isBlobType,
  MAX_PACK_SIZE,
  MIN_SEALED_SIZE,
  PACK_FOOTER_SIZE,
  PACK_HEADER_SIZE,
  PACK_MAGIC,
  type PackEntry,
} from './pack.ts';

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

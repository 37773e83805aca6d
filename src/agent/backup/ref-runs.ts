// Spilled runs of a snapshot's refs (snapshot-refs.ts): each run is a file in the agent's temp dir
// of ids sorted and concatenated, and keeps in memory only what an exact membership answer needs:
// a Bloom filter (~10 bits an id, 7 probes: about 1% of absent ids go further) and the first id of
// every block of BLOCK ids (half a byte an id), so a "maybe" reads one 2 KiB block, never a scan.
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError, fromSystemError } from '../../core/errors.ts';

const ID = 32;
const BLOCK = 64;
const PROBES = 7;
const BITS_PER_ID = 10;
const READ_IDS = 2048; // a merge cursor reads 64 KiB at a time

/** Run files start with this (agent start removes ones a crashed run left: index-spool.ts). */
export const REFS_RUN_PREFIX = 'refs-';

export function runPath(tmpDir: string, tag: string, n: number): string {
  return join(tmpDir, `${REFS_RUN_PREFIX}${tag}-${n}.ids`);
}

export class SpilledRun {
  readonly path: string;
  readonly count: number;
  readonly #fd: number;
  readonly #bloom: Uint8Array;
  readonly #bloomMask: number;
  readonly #firsts: Buffer;
  readonly #block = Buffer.allocUnsafe(BLOCK * ID);

  /** Writes `sorted` (sorted unique ids, concatenated) to a new file at `path`. */
  constructor(path: string, sorted: Buffer) {
    this.path = path;
    this.count = sorted.length / ID;
    try {
      this.#fd = openSync(path, 'wx+', 0o600);
      for (let at = 0; at < sorted.length; ) at += writeSync(this.#fd, sorted, at, sorted.length - at, at);
    } catch (e) {
      throw fromSystemError(e, `spilling snapshot refs to ${path}`);
    }
    let bits = 64;
    while (bits < this.count * BITS_PER_ID) bits *= 2;
    this.#bloom = new Uint8Array(bits / 8);
    this.#bloomMask = bits - 1;
    const blocks = Math.ceil(this.count / BLOCK);
    this.#firsts = Buffer.allocUnsafe(blocks * ID);
    for (let i = 0; i < this.count; i++) {
      const id = sorted.subarray(i * ID, i * ID + ID);
      this.#probe(id, true);
      if (i % BLOCK === 0) id.copy(this.#firsts, (i / BLOCK) * ID);
    }
  }

  has(id: Uint8Array): boolean {
    if (!this.#probe(id, false)) return false;
    // the last block whose first id is ≤ id
    let lo = 0;
    let hi = this.#firsts.length / ID - 1;
    if (this.#firsts.compare(id, 0, ID, 0, ID) > 0) return false;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#firsts.compare(id, 0, ID, mid * ID, mid * ID + ID) <= 0) lo = mid;
      else hi = mid - 1;
    }
    const n = Math.min(BLOCK, this.count - lo * BLOCK);
    this.#read(this.#block, n * ID, lo * BLOCK * ID);
    let a = 0;
    let b = n - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      const c = this.#block.compare(id, 0, ID, m * ID, m * ID + ID);
      if (c === 0) return true;
      if (c < 0) a = m + 1;
      else b = m - 1;
    }
    return false;
  }

  /** A reader of the ids in order, for the final merge. */
  cursor(): RunCursor {
    return new RunCursor(this);
  }

  /** Reads `length` bytes at `position` into `into` (whole, or E_CORRUPT). */
  read(into: Buffer, length: number, position: number): void {
    this.#read(into, length, position);
  }

  close(): void {
    try {
      closeSync(this.#fd);
    } catch {
      // already closed
    }
    rmSync(this.path, { force: true });
  }

  #read(into: Buffer, length: number, position: number): void {
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(this.#fd, into, got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
    } catch (e) {
      throw fromSystemError(e, `reading spilled snapshot refs ${this.path}`);
    }
    if (got !== length) throw new CairnError('E_CORRUPT', `spilled snapshot refs ${this.path} are shorter than written`);
  }

  /** Sets (`set`) or tests the id's bits. Ids are keyed HMACs: their bytes are the hashes. */
  #probe(id: Uint8Array, set: boolean): boolean {
    const h1 = (id[4]! | (id[5]! << 8) | (id[6]! << 16) | (id[7]! << 24)) >>> 0;
    const h2 = (id[8]! | (id[9]! << 8) | (id[10]! << 16) | (id[11]! << 24) | 1) >>> 0;
    for (let i = 0; i < PROBES; i++) {
      const bit = ((h1 + Math.imul(i, h2)) >>> 0) & this.#bloomMask;
      if (set) this.#bloom[bit >>> 3]! |= 1 << (bit & 7);
      else if ((this.#bloom[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }
}

/** The ids of one run in order: `buf` holds the current id at `pos` until `next()` moves past it. */
export class RunCursor {
  readonly buf = Buffer.allocUnsafe(READ_IDS * ID);
  pos = 0;
  #have = 0;
  #next = 0; // the next id of the run to read
  readonly #run: SpilledRun;

  constructor(run: SpilledRun) {
    this.#run = run;
    this.#fill();
  }

  get done(): boolean {
    return this.pos >= this.#have;
  }

  next(): void {
    this.pos += ID;
    if (this.pos >= this.#have) this.#fill();
  }

  #fill(): void {
    const n = Math.min(READ_IDS, this.#run.count - this.#next);
    this.pos = 0;
    this.#have = n * ID;
    if (n === 0) return;
    this.#run.read(this.buf, n * ID, this.#next * ID);
    this.#next += n;
  }
}

// The set of chunk ids a snapshot references (data and tree chunks, read or reused), with bounded
// memory. It doubles as the run's memory of ids already handled: an id seen once is never queried
// or sealed again, so a chunk waiting in an unsent pack is never uploaded twice. Recent ids live
// in a ChunkSet; when it holds `spillAt` ids they are sorted into a run file in the agent's temp
// dir (ref-runs.ts) and the table is reused. Membership stays exact: a Bloom filter per run sends
// only ~1% of new ids (and repeats of spilled ones) to read one 2 KiB block of a run. Runs are
// disjoint (an id is spilled once), so the count, and the upload's length, are known before the
// final merge streams the sorted refs out in slices: no step holds every id.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CairnError, fromSystemError } from '../../core/errors.ts';
import { testCount } from '../../core/test-settings.ts';
import { ChunkSet } from './chunk-set.ts';
import { type RunCursor, runPath, SpilledRun } from './ref-runs.ts';

const ID = 32;
/** ids kept in memory before a spill: the table stays at 2^20 slots (~33 MiB) */
const SPILL_AT = 1 << 19;
/** ids of the merged refs handed out at a time (1 MiB) */
const SLICE_IDS = 32 * 1024;

/** ids held in memory before spilling a sorted run (lowered in tests by CAIRN_TEST_REFS_SPILL_IDS) */
export function refsSpillAt(): number {
  return testCount('REFS_SPILL_IDS', SPILL_AT);
}

export class SnapshotRefs {
  readonly #tmpDir: string;
  readonly #spillAt: number;
  readonly #tag = `${process.pid}-${randomBytes(6).toString('hex')}`;
  readonly #memory = new ChunkSet();
  /** spilled ids met again lately: their repeats stay off the disk */
  readonly #hits = new ChunkSet();
  #runs: SpilledRun[] = [];
  /** one buffer every spill sorts into (repeated 16 MiB allocations fragment the C heap) */
  #sortBuffer: Buffer | undefined;
  #size = 0;

  constructor(opts: { tmpDir?: string; spillAt?: number } = {}) {
    this.#tmpDir = opts.tmpDir ?? tmpdir();
    this.#spillAt = Math.max(1, opts.spillAt ?? refsSpillAt());
  }

  /** distinct ids added */
  get size(): number {
    return this.#size;
  }

  /** sorted runs written to disk so far */
  get runs(): number {
    return this.#runs.length;
  }

  /** Adds the id; returns false when it was already there. */
  add(id: Uint8Array): boolean {
    if (id.length !== ID) throw new RangeError('chunk id must be 32 bytes');
    if (this.#memory.has(id) || this.#hits.has(id)) return false;
    for (const run of this.#runs) {
      if (!run.has(id)) continue;
      if (this.#hits.size >= this.#spillAt / 8) this.#hits.clear();
      this.#hits.add(id);
      return false;
    }
    this.#memory.add(id);
    this.#size++;
    if (this.#memory.size >= this.#spillAt) this.#spill();
    return true;
  }

  /**
   * Every id, sorted by bytes, in slices of concatenated ids (the `core/snapshot.ts` refs format
   * once joined). Each slice is a new buffer the caller may keep.
   */
  *sorted(): Generator<Buffer> {
    if (this.#runs.length === 0) {
      const all = this.#memory.sortedRefs();
      for (let at = 0; at < all.length; at += SLICE_IDS * ID) yield all.subarray(at, at + SLICE_IDS * ID);
      return;
    }
    if (this.#memory.size > 0) this.#spill();
    yield* mergeRuns(this.#runs.map((r) => r.cursor()));
  }

  /** Removes the run files (safe to call more than once). */
  close(): void {
    for (const run of this.#runs) run.close();
    this.#runs = [];
  }

  #spill(): void {
    if (this.#runs.length === 0) {
      try {
        mkdirSync(this.#tmpDir, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw fromSystemError(e, `creating the temp dir ${this.#tmpDir}`);
      }
    }
    const path = runPath(this.#tmpDir, this.#tag, this.#runs.length);
    this.#sortBuffer ??= Buffer.allocUnsafeSlow(this.#spillAt * ID);
    this.#runs.push(new SpilledRun(path, this.#memory.sortedRefs(this.#sortBuffer)));
    this.#memory.clear();
  }
}

/** k-way merge of disjoint sorted runs (a binary heap of cursors), checked strictly increasing. */
function* mergeRuns(cursors: RunCursor[]): Generator<Buffer> {
  const heap = cursors.filter((c) => !c.done);
  const less = (a: RunCursor, b: RunCursor) => a.buf.compare(b.buf, b.pos, b.pos + ID, a.pos, a.pos + ID) < 0;
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  let out = Buffer.allocUnsafe(SLICE_IDS * ID);
  let used = 0;
  let last: Buffer | undefined;
  while (heap.length > 0) {
    const top = heap[0]!;
    if (last !== undefined && last.compare(top.buf, top.pos, top.pos + ID) >= 0)
      throw new CairnError('E_INTERNAL', 'spilled snapshot refs are not sorted and disjoint');
    top.buf.copy(out, used, top.pos, top.pos + ID);
    last = out.subarray(used, used + ID);
    used += ID;
    top.next();
    if (top.done) {
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
    }
    if (heap.length > 0) down(0);
    if (used === out.length) {
      yield out;
      out = Buffer.allocUnsafe(SLICE_IDS * ID);
      used = 0;
    }
  }
  if (used > 0) yield out.subarray(0, used);
}

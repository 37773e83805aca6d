// Where regions go in a ring of memory (a SharedArrayBuffer two threads share): each new region
// right after the newest, wrapping to the start (early, rather than into memory never written),
// never over one still in use. Regions are taken in order and may be freed in any order; the room
// of a freed region comes back once every region taken before it is free too (a ring, not a
// heap: nothing to search, nothing to merge).
// Used by a restore's plaintexts (restore/plain-ring.ts) and a backup's sealed blobs
// (backup/seal-ring.ts).

/** Regions start at multiples of this (aligned copies; little waste). */
const ALIGN = 64;

type Region = { start: number; end: number; free: boolean };

export class RingRegions {
  readonly size: number;
  /** regions in the order they were taken: [start, end) and whether they are free again */
  readonly #regions: Region[] = [];
  /** the start of each region still out → its entry */
  readonly #out = new Map<number, Region>();
  #head = 0;
  /** the end of the furthest region ever placed: memory past it was never written (not resident) */
  #touched = 0;

  constructor(size: number) {
    this.size = size;
  }

  /** The start of a new region of `length` bytes, or -1 when it does not fit now. */
  take(length: number): number {
    const start = this.#place(length);
    if (start < 0) return -1;
    const region = { start, end: start + length, free: false };
    this.#regions.push(region);
    this.#out.set(start, region);
    this.#head = align(region.end);
    this.#touched = Math.max(this.#touched, region.end);
    return start;
  }

  /**
   * The region at `start` keeps only its first `length` bytes: the newest gives the rest back at
   * once, an older one when it is freed (its room is reclaimed whole then).
   */
  shrink(start: number, length: number): void {
    const region = this.#out.get(start);
    if (!region || start + length >= region.end) return;
    region.end = start + length;
    // at least one unit stays: a later region must never start where this one does
    if (this.#regions.at(-1) === region) this.#head = align(Math.max(region.end, start + 1));
  }

  /** The region at `start` is no longer in use. */
  free(start: number): void {
    const region = this.#out.get(start);
    if (!region) return;
    this.#out.delete(start);
    region.free = true;
    while (this.#regions.length && this.#regions[0]!.free) this.#regions.shift();
    if (!this.#regions.length) this.#head = 0; // empty: start again at the beginning
  }

  /** Bytes in regions not yet freed. */
  get outBytes(): number {
    let n = 0;
    for (const r of this.#out.values()) n += r.end - r.start;
    return n;
  }

  /**
   * Where `length` bytes fit after the newest region without reaching the oldest one still in
   * use; -1 if nowhere. The next region starts aligned after this one, and never at the oldest
   * one's start while that is in use (equal offsets would read as an empty ring).
   */
  #place(length: number): number {
    if (length === 0 || length > this.size) return -1;
    const oldest = this.#regions[0];
    if (!oldest) return 0;
    const tail = oldest.start;
    const room = align(length);
    if (this.#head > tail) {
      // in use: [tail, head); room after head, else from the start up to tail. Memory never
      // written yet is the last choice: the ring's resident pages then follow the most it held at
      // once, not how much passed through it (a backup of 200,000 tiny files walked its whole ring).
      const atStart = room < tail;
      if (this.size - this.#head >= length && (!atStart || this.#head + length <= this.#touched)) return this.#head;
      return atStart ? 0 : -1;
    }
    // wrapped (in use: [tail, size) and [0, head)): room between head and tail
    return this.#head + room < tail ? this.#head : -1;
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

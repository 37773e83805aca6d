// A set of chunk ids in memory: the recent part of a backup's refs (SnapshotRefs spills it to
// sorted runs on disk past 2^19 ids) and a restore's distinct chunks (read-plan.ts). Kept as an
// open-addressing hash table inside one growing byte array (32 bytes a slot, half full at most),
// never one object per id: no strings for the garbage collector to walk. Ids are keyed HMACs,
// uniformly spread, so their first four bytes are the hash.
const ID = 32;
const INITIAL_SLOTS = 1 << 12;

export class ChunkSet {
  #slots = new Uint8Array(INITIAL_SLOTS * ID);
  #used = new Uint8Array(INITIAL_SLOTS);
  #mask = INITIAL_SLOTS - 1;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(id: Uint8Array): boolean {
    return this.#used[this.#find(id)] === 1;
  }

  /** Forgets every id, keeping the table's capacity (a spilled set refills the same bytes). */
  clear(): void {
    this.#used.fill(0);
    this.#size = 0;
  }

  /** Adds the id; returns false when it was already there. */
  add(id: Uint8Array): boolean {
    if (id.length !== ID) throw new RangeError('chunk id must be 32 bytes');
    const slot = this.#find(id);
    if (this.#used[slot] === 1) return false;
    this.#slots.set(id, slot * ID);
    this.#used[slot] = 1;
    this.#size++;
    if (this.#size * 2 > this.#used.length) this.#grow();
    return true;
  }

  /**
   * Every id, sorted by bytes, concatenated: the snapshot's refs (`core/snapshot.ts` format). Into
   * the start of `into` when given (a spilling caller reuses one buffer: no 16 MiB allocation each).
   */
  sortedRefs(into?: Buffer): Buffer {
    // Bucket by the first two bytes (a counting sort), then sort each small bucket.
    const counts = new Uint32Array(65537);
    for (let s = 0; s < this.#used.length; s++) {
      if (this.#used[s] === 1) counts[((this.#slots[s * ID]! << 8) | this.#slots[s * ID + 1]!) + 1]!++;
    }
    for (let b = 1; b < counts.length; b++) counts[b]! += counts[b - 1]!;
    const out = into && into.length >= this.#size * ID ? into.subarray(0, this.#size * ID) : Buffer.allocUnsafe(this.#size * ID);
    const next = counts.slice(0, 65536);
    for (let s = 0; s < this.#used.length; s++) {
      if (this.#used[s] !== 1) continue;
      const bucket = (this.#slots[s * ID]! << 8) | this.#slots[s * ID + 1]!;
      out.set(this.#slots.subarray(s * ID, s * ID + ID), next[bucket]! * ID);
      next[bucket]!++;
    }
    // each bucket holds a few ids (spilled sets stay under 2^19: ~8): insertion sort in place,
    // no object per id
    const held = Buffer.allocUnsafe(ID);
    for (let b = 0; b < 65536; b++) {
      const from = counts[b]!;
      const to = counts[b + 1]!;
      for (let i = from + 1; i < to; i++) {
        if (out.compare(out, (i - 1) * ID, i * ID, i * ID, i * ID + ID) >= 0) continue;
        out.copy(held, 0, i * ID, i * ID + ID);
        let j = i;
        while (j > from && out.compare(held, 0, ID, (j - 1) * ID, j * ID) > 0) j--;
        out.copy(out, (j + 1) * ID, j * ID, i * ID);
        held.copy(out, j * ID);
      }
    }
    return out;
  }

  /** The slot holding `id`, or the empty slot where it would go (linear probing). */
  #find(id: Uint8Array): number {
    let slot = ((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) & this.#mask;
    for (;;) {
      if (this.#used[slot] !== 1 || this.#equalAt(slot, id)) return slot;
      slot = (slot + 1) & this.#mask;
    }
  }

  #equalAt(slot: number, id: Uint8Array): boolean {
    const at = slot * ID;
    for (let i = 0; i < ID; i++) if (this.#slots[at + i] !== id[i]) return false;
    return true;
  }

  #grow(): void {
    const oldSlots = this.#slots;
    const oldUsed = this.#used;
    const count = oldUsed.length * 2;
    this.#slots = new Uint8Array(count * ID);
    this.#used = new Uint8Array(count);
    this.#mask = count - 1;
    for (let s = 0; s < oldUsed.length; s++) {
      if (oldUsed[s] !== 1) continue;
      const id = oldSlots.subarray(s * ID, s * ID + ID);
      const slot = this.#find(id);
      this.#slots.set(id, slot * ID);
      this.#used[slot] = 1;
    }
  }
}

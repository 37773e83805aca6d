// The set of chunk ids a snapshot references (data and tree chunks, read or reused). It doubles
// as the run's memory of ids already handled: an id seen once is never queried or sealed again.
// Ids are kept as 32-character latin1 strings, the most compact key a JS Set offers.
// Memory grows with the snapshot (about one id per MiB of data plus one per file); a
// disk-backed sorted set would bound it for trees of tens of millions of files.
export class ChunkSet {
  #ids = new Set<string>();

  get size(): number {
    return this.#ids.size;
  }

  has(id: Uint8Array): boolean {
    return this.#ids.has(keyOf(id));
  }

  /** Adds the id; returns false when it was already there. */
  add(id: Uint8Array): boolean {
    const key = keyOf(id);
    if (this.#ids.has(key)) return false;
    this.#ids.add(key);
    return true;
  }

  /** Every id as a Buffer, in byte order. */
  sorted(): Buffer[] {
    return [...this.#ids].sort().map((k) => Buffer.from(k, 'latin1'));
  }
}

function keyOf(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
}

// Positional reads from stored packs through a small cache of open file handles, so a restore
// asking for thousands of blobs from the same packs opens each pack once.
import { type FileHandle, open } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../core/errors.ts';

const MAX_OPEN = 64;

type Slot = { handle: Promise<FileHandle>; users: number; lastUse: number };

export class PackReader {
  readonly #pathOf: (pack: string) => string;
  readonly #slots = new Map<string, Slot>();

  constructor(pathOf: (pack: string) => string) {
    this.#pathOf = pathOf;
  }

  /** Reads exactly `length` bytes at `offset` of pack `name` (E_CORRUPT when the file is shorter). */
  async read(name: string, offset: number, length: number): Promise<Buffer> {
    const slot = this.#acquire(name);
    try {
      const fh = await slot.handle;
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) throw new CairnError('E_CORRUPT', `pack ${name} is shorter than its index says`);
        got += bytesRead;
      }
      return buf;
    } catch (e) {
      throw fromSystemError(e, `reading pack ${name}`);
    } finally {
      slot.users--;
      slot.lastUse = performance.now();
      this.#evict();
    }
  }

  #acquire(name: string): Slot {
    let slot = this.#slots.get(name);
    if (!slot) {
      slot = { handle: open(this.#pathOf(name), 'r'), users: 0, lastUse: 0 };
      const s = slot;
      // A failed open must not stay cached (the file may appear after a re-upload).
      s.handle.catch(() => {
        if (this.#slots.get(name) === s) this.#slots.delete(name);
      });
      this.#slots.set(name, slot);
    }
    slot.users++;
    return slot;
  }

  /** Closes the least recently used idle handles beyond MAX_OPEN. */
  #evict(): void {
    if (this.#slots.size <= MAX_OPEN) return;
    const idle = [...this.#slots].filter(([, s]) => s.users === 0).sort((a, b) => a[1].lastUse - b[1].lastUse);
    for (const [name, s] of idle.slice(0, this.#slots.size - MAX_OPEN)) {
      this.#slots.delete(name);
      s.handle.then((fh) => fh.close()).catch(() => undefined); // an open that failed has nothing to close
    }
  }

  async close(): Promise<void> {
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    await Promise.allSettled(slots.map(async (s) => (await s.handle).close()));
  }
}

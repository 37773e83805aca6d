// Positional reads from stored packs through a small cache of open file handles, so a restore
// asking for thousands of blobs from the same packs opens each pack once; and the plan that
// merges reads of blobs lying next to each other in a pack (a restore asks for chunks in about
// the order the backup packed them) into one larger read.
import { type FileHandle, open } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../core/errors.ts';

const MAX_OPEN = 64;

/** Where a blob lies: `length` bytes at `offset` of pack `pack`. */
export type BlobPlace = { pack: string; offset: number; length: number };

/** One read covering blobs `first`..`first + count - 1` (in request order) of one pack. */
export type ReadSpan = { pack: string; offset: number; length: number; first: number; count: number };

/**
 * Groups consecutive places into spans: a place joins the span before it when it is in the same
 * pack, starts at most `maxGap` bytes after that span ends (the entry header between two blobs,
 * or a skipped blob), and the span stays within `maxSpan` bytes. A place out of order starts a
 * new span, so the blobs of every span come out in request order.
 */
export function planSpans(places: readonly BlobPlace[], maxSpan: number, maxGap: number): ReadSpan[] {
  const spans: ReadSpan[] = [];
  let span: ReadSpan | undefined;
  for (let i = 0; i < places.length; i++) {
    const p = places[i]!;
    const gap = span ? p.offset - (span.offset + span.length) : -1;
    if (span && span.pack === p.pack && gap >= 0 && gap <= maxGap && p.offset + p.length - span.offset <= maxSpan) {
      span.length = p.offset + p.length - span.offset;
      span.count++;
    } else {
      span = { pack: p.pack, offset: p.offset, length: p.length, first: i, count: 1 };
      spans.push(span);
    }
  }
  return spans;
}

type Slot = { handle: Promise<FileHandle>; users: number; lastUse: number };

export class PackReader {
  readonly #pathOf: (pack: string) => string;
  readonly #slots = new Map<string, Slot>();

  constructor(pathOf: (pack: string) => string) {
    this.#pathOf = pathOf;
  }

  /**
   * Reads exactly `length` bytes at `offset` of pack `name` (E_CORRUPT when the file is shorter),
   * into the start of `into` when given (a buffer the caller reuses), else into a new buffer.
   */
  async read(name: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const slot = this.#acquire(name);
    try {
      const fh = await slot.handle;
      const buf = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
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

  /** Closes pack `name`'s cached handle (its file was unlinked: the handle would keep its space). */
  async drop(name: string): Promise<void> {
    const slot = this.#slots.get(name);
    if (!slot || slot.users > 0) return;
    this.#slots.delete(name);
    await slot.handle.then((fh) => fh.close()).catch(() => undefined);
  }

  async close(): Promise<void> {
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    await Promise.allSettled(slots.map(async (s) => (await s.handle).close()));
  }
}

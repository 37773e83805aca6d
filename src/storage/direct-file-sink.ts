// A pack's temp file written with O_DIRECT: the bytes go from our buffers to the disk and never
// through the page cache. A pack is written once and read rarely, and it is fsynced before it is
// indexed, so caching it gains little; growing the page cache by a gigabyte per backup is what
// cost (on a machine whose memory is mostly page cache already, as a storage server's is) most of
// the storage server's CPU: each new cache page is memory the kernel first has to reclaim, and on a
// virtual machine that hands freed memory back to its host, memory the host has to fault in again
// (docs/performance.md, "eleventh part": 1.2-1.3 CPU-s for a backup of the 1 GiB set, where
// the same backups through the page cache took 1.4-2.4).
//
// O_DIRECT wants the buffer, the file offset and the length aligned to the device's block: the
// body is copied into staging buffers that lie at the start of WebAssembly memories (page-aligned
// by construction) and written a whole buffer at a time; the last partial block is written padded
// with zeros and the file then truncated to its size. Where the file system refuses O_DIRECT (at
// open or on a write) the same file is written through the page cache instead, as before.
import { constants } from 'node:fs';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { freeOwned } from '../core/free-owned.ts';

/** Bytes per staging buffer and per write. */
const STAGE_SIZE = 1024 * 1024;
/** Offsets and lengths of direct writes are multiples of this (the usual block sizes, 512 and 4096, divide it). */
const ALIGN = 4096;
/** Idle staging buffers kept for the next upload: their pages are already the process's own. */
const KEPT_IDLE = 8;

const idle: Buffer[] = [];

// The WebAssembly global as far as we use it (the project's lib settings do not declare it).
type WasmMemory = new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemory } }).WebAssembly.Memory;

/** A STAGE_SIZE buffer starting on a page boundary (a WebAssembly memory's own start). */
function takeStage(): Buffer {
  return idle.pop() ?? Buffer.from(new WasmMemory({ initial: STAGE_SIZE / 65536, maximum: STAGE_SIZE / 65536 }).buffer);
}

function giveStage(stage: Buffer): void {
  if (idle.length < KEPT_IDLE) idle.push(stage);
}

/** Whether `e` is the kernel refusing O_DIRECT (on open, or an alignment it will not take). */
function directRefused(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'EINVAL';
}

/**
 * A new temp file written chunk by chunk with back-pressure, as TempFileSink (durable-fs.ts), but
 * past the page cache where the file system allows: write() copies the chunk into a staging
 * buffer (and frees an owned one at once) and returns a promise only when the caller must wait
 * for a write to finish. finish() writes the rest, fsyncs and closes; abort() closes and removes.
 */
export class DirectFileSink {
  readonly path: string;
  /** the handle written through: opened with O_DIRECT, or without once that was refused */
  #file: Promise<FileHandle>;
  /** whether #file bypasses the page cache: false once O_DIRECT is refused (at open or on a write) or when no aligned stage was had */
  #direct = true;
  /** two staging buffers: one filling while the other's write is on its way */
  #stages: Buffer[];
  /** whether the stages are from the pool (and go back to it) */
  #pooled: boolean;
  #writing: (Promise<void> | undefined)[] = [undefined, undefined];
  #current = 0;
  #filled = 0;
  /** where the current stage goes in the file */
  #position = 0;
  #error: unknown;
  #closed = false;
  /** chunks that came while both stages were full, copied by #drain as stages come free */
  #backlog: { chunk: Buffer; from: number; owned: boolean }[] = [];
  #draining: Promise<void> | undefined;

  /** `stage`: where staging buffers come from instead of the pool (tests: buffers O_DIRECT refuses) */
  constructor(path: string, options: { stage?: () => Buffer } = {}) {
    this.path = path;
    this.#pooled = options.stage === undefined;
    const stage = options.stage ?? takeStage;
    try {
      this.#stages = [stage(), stage()];
    } catch {
      // no WebAssembly memory to be had (each reserves gigabytes of address space, which a limit
      // on it can refuse): ordinary buffers, through the page cache
      this.#stages = [Buffer.allocUnsafeSlow(STAGE_SIZE), Buffer.allocUnsafeSlow(STAGE_SIZE)];
      this.#pooled = false;
      this.#direct = false;
    }
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
    // refused at open: the file was made before O_DIRECT was checked, so open it again as it is
    this.#file = open(path, this.#direct ? flags | constants.O_DIRECT : flags, 0o666).catch((e: unknown) => {
      if (!this.#direct || !directRefused(e)) throw e;
      this.#direct = false;
      return open(path, constants.O_WRONLY);
    });
    this.#file.catch((e: unknown) => (this.#error ??= e));
  }

  /** Whether the file is being written past the page cache (false: the file system refused it). */
  get direct(): boolean {
    return this.#direct;
  }

  /**
   * Queues `chunk`; a promise when the caller should wait for room. `owned`: the caller gives the
   * chunk up; it is freed as soon as it is copied.
   */
  write(chunk: Buffer, owned = false): undefined | Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (this.#draining === undefined) {
      const from = this.#fill(chunk, 0);
      if (from === chunk.length) {
        if (owned) freeOwned(chunk);
        const room = this.#writing[this.#current]?.then(() => this.#failed());
        room?.catch(() => undefined); // a failed write is also seen by the next write() and by finish()
        return room;
      }
      this.#backlog.push({ chunk, from, owned });
      this.#draining = this.#drain();
      this.#draining.catch(() => undefined); // seen by finish() and by whoever waits on write()
    } else this.#backlog.push({ chunk, from: 0, owned });
    return this.#draining;
  }

  /** Copies `chunk` from `from` into the stages while the stage to fill is free; how far it got. */
  #fill(chunk: Buffer, from: number): number {
    while (from < chunk.length && this.#writing[this.#current] === undefined) {
      const n = chunk.copy(this.#stages[this.#current]!, this.#filled, from);
      from += n;
      this.#filled += n;
      if (this.#filled === STAGE_SIZE) this.#submit(STAGE_SIZE);
    }
    return from;
  }

  /** Copies the chunks that had to wait, in order, as stages come free. */
  async #drain(): Promise<void> {
    try {
      while (this.#backlog.length > 0) {
        const item = this.#backlog[0]!;
        await this.#writing[this.#current];
        this.#failed();
        item.from = this.#fill(item.chunk, item.from);
        if (item.from < item.chunk.length) continue;
        this.#backlog.shift();
        if (item.owned) freeOwned(item.chunk);
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Starts writing the current stage's first `length` bytes and moves on to the other stage. */
  #submit(length: number): void {
    const index = this.#current;
    this.#writing[index] = this.#writeAt(this.#stages[index]!, length, this.#position).then(
      () => {
        this.#writing[index] = undefined;
      },
      (e: unknown) => {
        this.#writing[index] = undefined;
        this.#error ??= e;
      },
    );
    this.#position += length;
    this.#current = 1 - index;
    this.#filled = 0;
  }

  #failed(): void {
    if (this.#error !== undefined) throw this.#error;
  }

  async #writeAt(stage: Buffer, length: number, position: number): Promise<void> {
    for (let done = 0; done < length; ) {
      const through = this.#file;
      const file = await through;
      try {
        const { bytesWritten } = await file.write(stage, done, length - done, position + done);
        done += bytesWritten;
      } catch (e) {
        if (!directRefused(e)) throw e;
        // refused through the handle still current: through the cache from here on, unless it is
        // already the cached one (then EINVAL is an error of its own); another handle: written again
        if (through === this.#file) {
          if (!this.#direct) throw e;
          this.#throughCache(file);
        }
      }
    }
  }

  /**
   * The file system took the open but not a write (it wants a larger alignment): the same file
   * through the page cache from here on. The direct handle closes once its writes are done.
   */
  #throughCache(direct: FileHandle): void {
    this.#direct = false;
    this.#file = open(this.path, constants.O_WRONLY);
    this.#file.catch((e: unknown) => (this.#error ??= e));
    void direct.close().catch(() => undefined);
  }

  /** Writes what is left, fsyncs and closes the file. */
  async finish(): Promise<void> {
    try {
      await this.#draining;
      this.#failed();
      const size = this.#position + this.#filled;
      await this.#writing[this.#current];
      if (this.#filled > 0) {
        // a direct write's length is a whole number of blocks: zeros past the end, cut off below
        const length = Math.min(STAGE_SIZE, Math.ceil(this.#filled / ALIGN) * ALIGN);
        this.#stages[this.#current]!.fill(0, this.#filled, length);
        this.#submit(length);
      }
      await this.#settled();
      this.#failed();
      const file = await this.#file;
      await file.truncate(size);
      await file.sync();
    } finally {
      await this.#close();
    }
  }

  /** Closes (after the writes on their way) and removes the file. */
  async abort(): Promise<void> {
    this.#error ??= new Error('aborted'); // chunks still waiting are not written
    this.#backlog = [];
    await this.#draining?.catch(() => undefined);
    await this.#close();
    await rm(this.path, { force: true });
  }

  async #settled(): Promise<void> {
    await Promise.all(this.#writing);
  }

  /** Once every write on its way has ended: the stages go back, the handle closes. */
  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#settled();
    if (this.#pooled) for (const stage of this.#stages) giveStage(stage);
    this.#stages = [];
    const file = await this.#file.catch(() => undefined);
    await file?.close().catch(() => undefined);
  }
}

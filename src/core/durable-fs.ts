// Durable file operations the vault relies on: every write is temp file + fsync + rename + fsync
// of the directory, so a crash leaves either the old state or the new one, never a torn file.
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fromSystemError } from './errors.ts';
import { freeOwned } from './free-owned.ts';

/** fsync a directory so a rename or create inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A fresh, unused temp path in `tmpDir` (callers remove it on failure). */
export function tempPath(tmpDir: string, hint: string): string {
  return join(tmpDir, `${hint}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to `path` atomically and durably (mode applies to the new file). */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number; tmpDir?: string } = {},
): Promise<void> {
  const tmp = tempPath(options.tmpDir ?? dirname(path), 'write');
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true });
    throw fromSystemError(e, `writing ${path}`);
  }
}

/** Moves an already fsynced temp file into place durably, creating the target directory. */
export async function renameDurable(from: string, to: string): Promise<void> {
  const dir = dirname(to);
  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined) await fsyncDir(dirname(dir)); // the new directory's own entry
  await rename(from, to);
  await fsyncDir(dir);
}

/**
 * A new temp file written chunk by chunk with back-pressure: write() returns a promise only when
 * the caller must wait. finish() fsyncs and closes; abort() closes and removes the file.
 */
export class TempFileSink {
  readonly path: string;
  readonly #out: WriteStream;
  #error: Error | undefined;

  constructor(path: string) {
    this.path = path;
    // flush: fsync before close; a large buffer lets request chunks queue up and go out in one writev
    this.#out = createWriteStream(path, { flags: 'wx', flush: true, highWaterMark: 4 * 1024 * 1024 });
    this.#out.on('error', (e) => {
      this.#error ??= e;
    });
  }

  /**
   * Queues `chunk`; a promise when the caller should wait for room. `owned`: the caller gives the
   * chunk's buffer up (nothing else holds a view of it), so its memory is freed once written. An
   * upload's body passes a pack's size of short-lived buffers through here: left to the
   * collector, their external memory made V8 run a full collection every few tens of MB.
   */
  write(chunk: Buffer, owned = false): undefined | Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#out.write(chunk, owned ? () => freeOwned(chunk) : undefined)) return undefined;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.#out.off('drain', done);
        this.#out.off('close', done);
        if (this.#error) reject(this.#error);
        else resolve();
      };
      this.#out.on('drain', done);
      this.#out.on('close', done);
    });
  }

  /** Flushes, fsyncs and closes the file. */
  async finish(): Promise<void> {
    await new Promise<void>((resolve) => this.#out.end(() => resolve()));
    if (!this.#out.closed) await new Promise<void>((resolve) => this.#out.once('close', () => resolve()));
    if (this.#error) throw this.#error;
  }

  /** Closes (waiting, so a late open cannot recreate it) and removes the file. */
  async abort(): Promise<void> {
    if (!this.#out.closed) await new Promise<void>((resolve) => this.#out.destroy().once('close', () => resolve()));
    await rm(this.path, { force: true });
  }
}

/** A text file's contents, or undefined when it does not exist (any other failure is an error). */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(e, `reading ${path}`);
  }
}

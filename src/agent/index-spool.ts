// The new snapshot's file index on its way to the backup server. During the backup each
// directory's final entries are appended to a temporary file (one JSON line per entry, in the
// wire form); after the snapshot is saved they are read back and sent in batches. So a backup of
// a million files holds a few hundred kilobytes of index in memory, not the whole listing.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CairnError, fromSystemError } from '../core/errors.ts';
import type { TreeNode } from '../core/tree.ts';
import { INDEX_BATCH, type IndexEntryWire } from '../protocol/control.ts';
import { REFS_RUN_PREFIX } from './backup/ref-runs.ts';

/** Bytes of lines gathered before one write. */
const FLUSH_BYTES = 256 * 1024;
const SPOOL_PREFIX = 'index-';

/** One directory entry in the form `snapshotIndex` carries: names and a symlink's target as base64 of their exact bytes. */
export function indexEntry(dirPath: Buffer, node: TreeNode): IndexEntryWire {
  return {
    dir: dirPath.toString('base64'),
    name: node.name.toString('base64'),
    type: node.type,
    size: node.size,
    mtimeNs: node.mtimeNs.toString(),
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    ...(node.type === 'symlink' && node.target ? { target: node.target.toString('base64') } : {}),
  };
}

export class IndexSpool {
  readonly path: string;
  #fd: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #count = 0;

  /** A new spool file in `tmpDir` (created if missing), readable by this user only. */
  constructor(tmpDir: string) {
    try {
      fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
      this.path = join(tmpDir, `${SPOOL_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}.jsonl`);
      this.#fd = fs.openSync(this.path, 'wx', 0o600);
    } catch (e) {
      throw fromSystemError(e, `creating the index spool in ${tmpDir}`);
    }
  }

  /** Entries added so far. */
  get count(): number {
    return this.#count;
  }

  /** Appends one directory's entries (the archiver's onDirectory hook). */
  add(dirPath: Buffer, nodes: TreeNode[]): void {
    if (this.#fd < 0) throw new CairnError('E_INTERNAL', 'index spool already closed');
    for (const node of nodes) {
      const line = `${JSON.stringify(indexEntry(dirPath, node))}\n`;
      this.#pending.push(line);
      this.#pendingBytes += line.length;
      this.#count++;
    }
    if (this.#pendingBytes >= FLUSH_BYTES) this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const bytes = Buffer.from(this.#pending.join(''));
    this.#pending = [];
    this.#pendingBytes = 0;
    let done = 0;
    try {
      while (done < bytes.length) done += fs.writeSync(this.#fd, bytes, done);
    } catch (e) {
      throw fromSystemError(e, `writing the index spool ${this.path}`);
    }
  }

  #close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    fs.closeSync(fd);
  }

  /** The entries in order, `size` at a time; the spool takes no more entries after this starts. */
  async *batches(size = INDEX_BATCH): AsyncGenerator<IndexEntryWire[]> {
    this.#flush();
    this.#close();
    const lines = createInterface({ input: createReadStream(this.path), crlfDelay: Infinity });
    let batch: IndexEntryWire[] = [];
    for await (const line of lines) {
      if (line === '') continue;
      batch.push(JSON.parse(line) as IndexEntryWire);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  /** Sends every batch, one at a time (each awaited: the receiver sets the pace). */
  async replay(send: (entries: IndexEntryWire[]) => Promise<void>, size = INDEX_BATCH): Promise<void> {
    for await (const batch of this.batches(size)) await send(batch);
  }

  /** Closes and removes the spool file (safe to call more than once). */
  discard(): void {
    this.#close();
    fs.rmSync(this.path, { force: true });
  }
}

/** Removes spool files and spilled refs runs a crashed run left in `tmpDir` (called when the agent starts). */
export function removeStaleSpools(tmpDir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(tmpDir);
  } catch {
    return; // no tmp folder yet: nothing left behind
  }
  for (const name of names) if (name.startsWith(SPOOL_PREFIX) || name.startsWith(REFS_RUN_PREFIX)) fs.rmSync(join(tmpDir, name), { force: true });
}

// Snapshots in a vault: snapshots/<id>.snap (the sealed record, opaque here) and <id>.refs (the
// clear, sorted list of every chunk id it references, kept for key-less garbage collection).
// An upload streams its refs to disk, checking they are sorted, unique and all held by the vault,
// so a stored snapshot never names a chunk the vault lacks.
import { link, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { ID_SIZE, LIMITS, SNAPSHOT_HEADER } from '../protocol/data-plane.ts';
import { fsyncDir, renameDurable, TempFileSink, tempPath } from '../core/durable-fs.ts';
import { consumeBody } from './http-io.ts';
import type { Vault } from './vault-store.ts';

const REFS_CHECK_BATCH = 4096;
const inFlight = new Set<string>();

function snapPath(vault: Vault, id: string): string {
  return join(vault.snapshotsDir, `${id}.snap`);
}

export function refsPath(vault: Vault, id: string): string {
  return join(vault.snapshotsDir, `${id}.refs`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Parses `recordLength u32be || record || refs` as it arrives; see protocol/data-plane.ts. */
class SnapshotUploadParser {
  readonly #vault: Vault;
  #header = Buffer.alloc(0);
  record: Buffer | undefined;
  #recordHave = 0;
  #partial = Buffer.alloc(0); // an id split across chunks
  #last: Buffer | undefined;
  #batch: Buffer[] = [];
  refCount = 0;

  constructor(vault: Vault) {
    this.#vault = vault;
  }

  /** Returns the refs bytes of this chunk, to be written as they are. */
  update(chunk: Buffer): Buffer {
    let at = 0;
    if (this.#header.length < SNAPSHOT_HEADER) {
      const take = Math.min(SNAPSHOT_HEADER - this.#header.length, chunk.length);
      this.#header = Buffer.concat([this.#header, chunk.subarray(0, take)]);
      at = take;
      if (this.#header.length < SNAPSHOT_HEADER) return chunk.subarray(0, 0);
      const len = this.#header.readUInt32BE(0);
      if (len === 0 || len > LIMITS.snapshotRecordBytes)
        throw new CairnError('E_BAD_REQUEST', `snapshot record length ${len} is not within 1..${LIMITS.snapshotRecordBytes}`);
      this.record = Buffer.allocUnsafe(len);
    }
    const record = this.record!;
    if (this.#recordHave < record.length) {
      const take = Math.min(record.length - this.#recordHave, chunk.length - at);
      chunk.copy(record, this.#recordHave, at, at + take);
      this.#recordHave += take;
      at += take;
    }
    const refs = chunk.subarray(at);
    this.#checkRefs(refs);
    return refs;
  }

  #checkRefs(bytes: Buffer): void {
    let data = bytes;
    if (this.#partial.length > 0) data = Buffer.concat([this.#partial, bytes]);
    const whole = data.length - (data.length % ID_SIZE);
    for (let at = 0; at < whole; at += ID_SIZE) {
      const id = data.subarray(at, at + ID_SIZE);
      if (this.#last && Buffer.compare(this.#last, id) >= 0)
        throw new CairnError('E_BAD_REQUEST', `snapshot refs are not sorted and unique at id ${this.refCount}`);
      this.#last = Buffer.from(id);
      this.#batch.push(this.#last);
      if (++this.refCount > LIMITS.snapshotRefs)
        throw new CairnError('E_TOO_LARGE', `snapshot names more than ${LIMITS.snapshotRefs} chunks`);
      if (this.#batch.length >= REFS_CHECK_BATCH) this.#flushBatch();
    }
    this.#partial = Buffer.from(data.subarray(whole));
  }

  #flushBatch(): void {
    const missing = this.#vault.index.missing(this.#batch);
    this.#batch = [];
    if (missing.length > 0)
      throw new CairnError('E_BAD_REQUEST', `snapshot refs name chunk ${missing[0]!.toString('hex')}, which this vault does not hold`);
  }

  end(): Buffer {
    if (!this.record || this.#recordHave < this.record.length) throw new CairnError('E_BAD_REQUEST', 'snapshot upload: record truncated');
    if (this.#partial.length > 0) throw new CairnError('E_BAD_REQUEST', 'snapshot refs are not a whole number of 32-byte ids');
    this.#flushBatch();
    return this.record;
  }
}

export async function putSnapshot(vault: Vault, id: string, req: IncomingMessage): Promise<void> {
  const key = `${vault.name}/${id}`;
  if (inFlight.has(key) || (await exists(snapPath(vault, id))))
    throw new CairnError('E_CONFLICT', `snapshot ${id} already exists`);
  inFlight.add(key);
  const refsTmp = tempPath(vault.tmpDir, `${id}.refs`);
  const snapTmp = tempPath(vault.tmpDir, `${id}.snap`);
  const refsSink = new TempFileSink(refsTmp);
  try {
    const parser = new SnapshotUploadParser(vault);
    await consumeBody(req, (chunk) => {
      const refs = parser.update(chunk);
      return refs.length === 0 ? undefined : refsSink.write(refs);
    });
    const record = parser.end();
    await refsSink.finish();
    const fh = await open(snapTmp, 'wx', 0o644);
    try {
      await fh.writeFile(record);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // refs first: a visible .snap always has its .refs; link() refuses to replace an existing .snap.
    await renameDurable(refsTmp, refsPath(vault, id));
    await link(snapTmp, snapPath(vault, id));
    await fsyncDir(vault.snapshotsDir);
  } catch (e) {
    await refsSink.abort();
    throw fromSystemError(e, `storing snapshot ${id}`);
  } finally {
    inFlight.delete(key);
    await rm(refsTmp, { force: true });
    await unlink(snapTmp).catch(() => undefined); // absent when the upload failed before it was written
  }
}

export async function listSnapshots(vault: Vault): Promise<string[]> {
  const names = await readdir(vault.snapshotsDir);
  return names
    .filter((n) => /^[0-9a-f]{64}\.snap$/.test(n))
    .map((n) => n.slice(0, 64))
    .sort();
}

export async function readSnapshot(vault: Vault, id: string): Promise<Buffer> {
  try {
    return await readFile(snapPath(vault, id));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CairnError('E_NOT_FOUND', `no snapshot ${id} in vault ${vault.name}`);
    throw fromSystemError(e, `reading snapshot ${id}`);
  }
}

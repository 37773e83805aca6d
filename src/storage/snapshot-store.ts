// Snapshots in a vault: snapshots/<id>.snap (the sealed record, opaque here) and <id>.refs (the
// clear, sorted list of every chunk id it references, kept for key-less garbage collection).
// An upload streams its refs to disk, checking they are sorted, unique and all held by the vault,
// so a stored snapshot never names a chunk the vault lacks. A gc that swept the index while the
// upload ran makes the commit check the refs again against the index as it is then, under the
// vault's commit gate (pack-pins.ts): a gc never sweeps between that check and the snapshot
// becoming visible, so a lost race fails the upload (E_UNAVAILABLE, retried), never leaves holes.
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

export function snapPath(vault: Vault, id: string): string {
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
export class SnapshotUploadParser {
  readonly #vault: Vault;
  readonly #lacking: (id: Buffer) => CairnError;
  #header = Buffer.alloc(0);
  record: Buffer | undefined;
  #recordHave = 0;
  #partial = Buffer.alloc(0); // an id split across chunks
  #last: Buffer | undefined;
  #batch: Buffer[] = [];
  refCount = 0;

  constructor(vault: Vault, lacking: (id: Buffer) => CairnError) {
    this.#vault = vault;
    this.#lacking = lacking;
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
      // no cap on the count: every id must be unique and held by the vault, which bounds it
      this.refCount++;
      if (this.#batch.length >= REFS_CHECK_BATCH) this.#flushBatch();
    }
    this.#partial = Buffer.from(data.subarray(whole));
  }

  #flushBatch(): void {
    const missing = this.#vault.index.missing(this.#batch);
    this.#batch = [];
    if (missing.length > 0) throw this.#lacking(missing[0]!);
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
  const sweepsAtStart = vault.sweeps;
  // a chunk a gc removed during the upload is a lost race (retriable); otherwise a bad request
  const lacking = (chunk: Buffer) =>
    vault.sweeps !== sweepsAtStart
      ? new CairnError(
          'E_UNAVAILABLE',
          `snapshot ${id}: its refs name chunk ${chunk.toString('hex')}, which a garbage collection of vault ${vault.name} removed while the backup ran; run the backup again (it stores the chunk anew)`,
        )
      : new CairnError('E_BAD_REQUEST', `snapshot refs name chunk ${chunk.toString('hex')}, which this vault does not hold`);
  const refsTmp = tempPath(vault.tmpDir, `${id}.refs`);
  const snapTmp = tempPath(vault.tmpDir, `${id}.snap`);
  const refsSink = new TempFileSink(refsTmp);
  try {
    const parser = new SnapshotUploadParser(vault, lacking);
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
    const release = await vault.commits.shared();
    try {
      if (vault.sweeps !== sweepsAtStart) await recheckRefs(vault, refsTmp, lacking);
      // refs first: a visible .snap always has its .refs; link() refuses to replace an existing .snap.
      await renameDurable(refsTmp, refsPath(vault, id));
      await link(snapTmp, snapPath(vault, id));
      await fsyncDir(vault.snapshotsDir);
    } finally {
      release();
    }
  } catch (e) {
    await refsSink.abort();
    throw fromSystemError(e, `storing snapshot ${id}`);
  } finally {
    inFlight.delete(key);
    await rm(refsTmp, { force: true });
    await unlink(snapTmp).catch(() => undefined); // absent when the upload failed before it was written
  }
}

/** Checks every id of the refs file against the index as it is now (a gc swept it since the upload began). */
async function recheckRefs(vault: Vault, path: string, lacking: (id: Buffer) => CairnError): Promise<void> {
  for await (const batch of readIdBatches(path, REFS_CHECK_BATCH)) {
    const missing = vault.index.missing(batch);
    if (missing.length > 0) throw lacking(missing[0]!);
  }
}

/** The ids of a refs file, `count` at a time. */
export async function* readIdBatches(path: string, count: number): AsyncGenerator<Buffer[]> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(count * ID_SIZE);
    for (;;) {
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      const whole = got - (got % ID_SIZE);
      if (whole > 0) {
        const ids: Buffer[] = [];
        for (let at = 0; at < whole; at += ID_SIZE) ids.push(Buffer.from(buf.subarray(at, at + ID_SIZE)));
        yield ids;
      }
      if (got < buf.length) return;
    }
  } finally {
    await fh.close();
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

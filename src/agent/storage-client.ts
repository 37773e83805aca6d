// The agent's client for a storage server's data plane (the connection underneath is
// storage-connection.ts): requests split into the batch sizes the protocol allows, packs
// uploaded (named by the server, or by us for an older one), blob answers parsed as they stream
// in (blob-frames.ts), snapshots with their refs streamed.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { CairnError, isCairnError } from '../core/errors.ts';
import { readBlobFrames } from './blob-frames.ts';
import { NETTEST_PINGS } from '../protocol/nettest.ts';
import {
  type ChunkPlace,
  decodeLocateAnswer,
  ID_SIZE,
  LIMITS,
  parseScrubReport,
  parseSnapshotAnswer,
  parseSnapshotList,
  parseVaultConfig,
  paths,
  parsePackAnswer,
  type ScrubReport,
  snapshotUploadHeader,
  type VaultConfig,
} from '../protocol/data-plane.ts';
import { readAll, StorageConnection, type UploadPace, type WorkerClientOptions } from './storage-connection.ts';

export type { StorageClientOptions, UploadPace, WorkerClientOptions } from './storage-connection.ts';

export class StorageClient extends StorageConnection {
  /** false once the storage server turned out to predate POST …/packs (it then gets PUT with a name) */
  #namesPacks = true;

  static async fromFiles(files: { url: string; caFile: string; accessKeyFile: string }): Promise<StorageClient> {
    const [ca, key] = await Promise.all([readFile(files.caFile, 'utf8'), readFile(files.accessKeyFile, 'utf8')]);
    return new StorageClient({ url: files.url, ca, accessKey: key.trim() });
  }

  async createVault(vault: string, config: VaultConfig): Promise<void> {
    await this.json('POST', paths.vaults(), { vault, config });
  }

  async getVault(vault: string): Promise<VaultConfig> {
    return parseVaultConfig(await this.json('GET', paths.vault(vault)));
  }

  /** The ids (of `ids`) the vault lacks, in order, each once. */
  async missing(vault: string, ids: readonly Buffer[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (let at = 0; at < ids.length; at += LIMITS.missingIds) {
      const batch = Buffer.concat(ids.slice(at, at + LIMITS.missingIds));
      const res = await this.send('POST', paths.missing(vault), { body: { buffers: [batch], length: batch.length } });
      const answer = await readAll(res, batch.length, this.label);
      if (answer.length % ID_SIZE !== 0) throw new CairnError('E_CORRUPT', 'storage server sent a malformed missing list');
      for (let i = 0; i < answer.length; i += ID_SIZE) out.push(answer.subarray(i, i + ID_SIZE));
    }
    return out;
  }

  /** Where each id lies (pack, offset, sealed length), in order; undefined where the vault cannot serve it. */
  async locate(vault: string, ids: readonly Buffer[]): Promise<(ChunkPlace | undefined)[]> {
    const out: (ChunkPlace | undefined)[] = [];
    for (let at = 0; at < ids.length; at += LIMITS.locateIds) {
      const batch = ids.slice(at, at + LIMITS.locateIds);
      const body = Buffer.concat(batch);
      const res = await this.send('POST', paths.locate(vault), { body: { buffers: [body], length: body.length } });
      const answer = await readAll(res, 4 + batch.length * (ID_SIZE + 12), this.label);
      for (const place of decodeLocateAnswer(answer, batch.length)) out.push(place);
    }
    return out;
  }

  /** Uploads a pack (its buffers, `size` bytes in all, paced by `pace` when given); resolves false when the vault already had it. */
  async putPack(vault: string, name: string, buffers: readonly Buffer[], size: number, pace?: UploadPace): Promise<boolean> {
    const res = await this.send('PUT', paths.pack(vault, name), { body: { buffers, length: size }, expectContinue: true, pace });
    const answer = (await readAll(res, LIMITS.jsonBytes, this.label)).toString('utf8');
    return res.statusCode === 201 || !answer.includes('"stored":false');
  }

  /**
   * Uploads a pack the storage server names (the SHA-256 of its bytes, computed as it streams in),
   * so the agent does not hash it; the name and whether it was new (false: the vault had it).
   */
  async postPack(vault: string, buffers: readonly Buffer[], size: number, pace?: UploadPace): Promise<{ name: string; stored: boolean }> {
    if (!this.#namesPacks) {
      // a storage server from before issue 15: name the pack here, as agents did then
      const hash = createHash('sha256');
      for (const b of buffers) hash.update(b);
      const name = hash.digest('hex');
      return { name, stored: await this.putPack(vault, name, buffers, size, pace) };
    }
    let res: IncomingMessage;
    try {
      res = await this.send('POST', paths.packs(vault), { body: { buffers, length: size }, expectContinue: true, pace });
    } catch (e) {
      // refused before a byte of the body went (100-continue): the same pack goes by PUT
      if (!isCairnError(e, 'E_NOT_FOUND') || !/no such route/.test(e.message)) throw e;
      this.#namesPacks = false;
      return this.postPack(vault, buffers, size, pace);
    }
    const text = (await readAll(res, LIMITS.jsonBytes, this.label)).toString('utf8');
    const answer = parsePackAnswer(text);
    if (!answer) throw new CairnError('E_UNAVAILABLE', `storage server ${this.label}: a pack upload answered without the pack's name: ${text.slice(0, 200)}`);
    return answer;
  }

  /**
   * Sealed blobs in the order the server reads them (by pack), streamed in batches (the next batch
   * is requested while this one is read). `alloc` gives the buffer a blob is assembled in when it
   * spans several reads (a caller done with each blob before the next may reuse them).
   */
  async *getBlobs(vault: string, ids: readonly Buffer[], alloc?: (length: number) => Buffer): AsyncIterable<{ id: Buffer; sealed: Buffer }> {
    const request = (at: number) => {
      const batch = ids.slice(at, at + LIMITS.blobIds);
      const body = Buffer.concat(batch);
      const p = this.send('POST', paths.blobs(vault), { body: { buffers: [body], length: body.length } });
      p.catch(() => undefined); // seen when its turn comes
      return { batch, response: p };
    };
    let next = ids.length > 0 ? request(0) : undefined;
    for (let at = 0; next; at += LIMITS.blobIds) {
      const { batch, response } = next;
      next = at + LIMITS.blobIds < ids.length ? request(at + LIMITS.blobIds) : undefined;
      try {
        yield* readBlobFrames(await response, batch, this.label, alloc);
      } finally {
        if (next) void next.response.then((r) => r.resume()).catch(() => undefined);
      }
    }
  }

  /** Bytes [start, end) of a stored pack. */
  async getPackRange(vault: string, name: string, start: number, end: number): Promise<Buffer> {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end > start))
      throw new CairnError('E_USAGE', `bad pack range ${start}..${end}`);
    const res = await this.send('GET', paths.pack(vault, name), { headers: { range: `bytes=${start}-${end - 1}` } });
    const bytes = await readAll(res, end - start, this.label);
    if (res.statusCode !== 206 || bytes.length !== end - start)
      throw new CairnError('E_CORRUPT', `pack ${name}: asked for ${end - start} bytes at ${start}, got ${bytes.length}`);
    return bytes;
  }

  /**
   * Stores a snapshot: its sealed record and its refs (sorted unique 32-byte ids, one buffer or
   * several, or `count` ids streamed from an iterable as the upload goes: never all in memory).
   */
  async putSnapshot(vault: string, id: string, sealedRecord: Buffer, refs: Buffer | readonly Buffer[] | StreamedRefs): Promise<void> {
    const head = [snapshotUploadHeader(sealedRecord.length), sealedRecord];
    const stream = 'slices' in refs ? refs : { count: listedBytes(refs) / ID_SIZE, slices: Buffer.isBuffer(refs) ? [refs] : refs };
    const buffers = concatIterables(head, stream.slices);
    const length = head[0]!.length + sealedRecord.length + stream.count * ID_SIZE;
    const res = await this.send('PUT', paths.snapshot(vault, id), { body: { buffers, length }, expectContinue: true, retry: false });
    res.resume();
  }

  async listSnapshots(vault: string): Promise<string[]> {
    return parseSnapshotList(await this.json('GET', paths.snapshots(vault)));
  }

  async getSnapshot(vault: string, id: string): Promise<Buffer> {
    return parseSnapshotAnswer(await this.json('GET', paths.snapshot(vault, id)));
  }

  /** The whole refs list in memory (tests and tools: a backup never reads it back). */
  async getSnapshotRefs(vault: string, id: string): Promise<Buffer> {
    const res = await this.send('GET', paths.snapshotRefs(vault, id));
    return readAll(res, Number(res.headers['content-length'] ?? 0), this.label);
  }

  async scrub(vault: string): Promise<ScrubReport> {
    return parseScrubReport(await this.json('POST', paths.scrub(vault)));
  }

  /** `net test`: uploads `bytes` (from `block` repeated) to the discard route; the seconds the upload took. */
  async discard(bytes: number, block: Buffer): Promise<number> {
    const buffers: Buffer[] = [];
    for (let left = bytes; left > 0; left -= block.length) buffers.push(left >= block.length ? block : block.subarray(0, left));
    const started = performance.now();
    const res = await this.send('PUT', paths.nettest(), { body: { buffers, length: bytes }, expectContinue: true, retry: false });
    const answer = JSON.parse((await readAll(res, LIMITS.jsonBytes, this.label)).toString('utf8')) as { bytes?: unknown };
    const seconds = (performance.now() - started) / 1000;
    if (answer.bytes !== bytes) throw new CairnError('E_CORRUPT', `storage server ${this.label} took ${String(answer.bytes)} of the ${bytes} bytes sent`);
    return seconds;
  }

  /** `net test`: the round-trip time (ms) of each of NETTEST_PINGS small requests, one after another. */
  async pings(): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < NETTEST_PINGS; i++) {
      const started = performance.now();
      await readAll(await this.send('GET', paths.nettest()), LIMITS.jsonBytes, this.label);
      times.push(performance.now() - started);
    }
    return times;
  }
}

/** A snapshot's refs handed out in slices as the upload goes, `count` ids in all. */
export type StreamedRefs = { count: number; slices: Iterable<Buffer> };

function listedBytes(refs: Buffer | readonly Buffer[]): number {
  return Buffer.isBuffer(refs) ? refs.length : refs.reduce((n, b) => n + b.length, 0);
}

function* concatIterables(...parts: Iterable<Buffer>[]): Generator<Buffer> {
  for (const part of parts) yield* part;
}

/** A StorageClient in a worker thread, from workerOptions(); `grant` gives the grant the current task carries. */
export function workerClient(options: WorkerClientOptions, grant: () => string): StorageClient {
  const { grant: granted, ...rest } = options;
  return new StorageClient({ ...rest, ...(granted ? { grant } : {}) });
}

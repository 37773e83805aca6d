// One handler per data-plane route. Each receives a request already routed, its names already
// validated (protocol/data-plane.ts) and its caller already authorized (authorize.ts).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { freeOwned } from '../core/free-owned.ts';
import {
  BLOB_FRAME_HEADER,
  byPackOrder,
  dataIdleMs,
  encodeLocateAnswer,
  ID_SIZE,
  LIMITS,
  parseCreateVaultRequest,
  parseRange,
  type RouteMatch,
  type RouteName,
  splitIds,
} from '../protocol/data-plane.ts';
import { consumeBody, declaredLength, readBody, readJson, sendBytes, sendJson, writeWhole } from './http-io.ts';
import { NETTEST_MAX_BYTES } from '../protocol/nettest.ts';
import { planSpans } from './pack-reader.ts';
import { ingestPack, packStored } from './pack-ingest.ts';
import { scrubVault } from './scrub.ts';
import type { StorageMetrics } from './metrics.ts';
import { listSnapshots, putSnapshot, readSnapshot, refsPath } from './snapshot-store.ts';
import type { Vault, VaultStore } from './vault-store.ts';
import { findChunks, missingChunks } from './chunk-lookup.ts';
import { now, testNumber } from '../core/test-settings.ts';
import type { ChunkLocation } from './chunk-index.ts';

export type RequestContext = {
  req: IncomingMessage;
  res: ServerResponse;
  match: RouteMatch;
  store: VaultStore;
  /**
   * Whose vouches this request's answers are (gc-index.ts): the grant's run, or for a request
   * without one (a standalone server's) a key of its connection.
   */
  run: string;
  /** Sends `100 Continue` when the client asked for it: call right before reading a body. */
  startBody: () => void;
  /** the process's metrics (with --metrics-listen): a scrub's result goes there */
  metrics?: StorageMetrics;
};

/** Blobs answer: at most this many bytes per merged read of adjacent blobs (a largest chunk fits)… */
const SPAN_BYTES = 4.5 * 1024 * 1024;
/** …merged across gaps up to this size (entry headers, a few skipped blobs)… */
const SPAN_GAP = 64 * 1024;
/** …with reads in flight up to this many bytes while earlier blobs are written. */
const READ_AHEAD_BYTES = 16 * 1024 * 1024;
/** Frames below this size are gathered into writes of about this size. */
const SMALL_FRAME = 64 * 1024;

/**
 * Span buffers whose bytes went out, for the next reads: a fresh large buffer per read costs page
 * faults, unmapping and garbage-collector work on every byte served. A buffer comes back only once
 * the socket has taken all its frames, so reuse never touches bytes in flight; one not kept, and
 * a smaller read's own buffer, is freed then (left to the collector, they doubled the full
 * collections of the storage server's heap: ~8 per GiB restored instead of ~4).
 */
const spareSpanBuffers: Buffer[] = [];
const SPARE_SPAN_BUFFERS = 8;

/** A reusable buffer for a read of `length` bytes; none for small reads (they would waste most of it). */
function spanBuffer(length: number): Buffer | undefined {
  if (length < SPAN_BYTES / 4 || length > SPAN_BYTES) return undefined;
  return spareSpanBuffers.pop() ?? Buffer.allocUnsafeSlow(SPAN_BYTES);
}

/** A span's bytes are out: its buffer is kept for the next reads (`pooled`: one spanBuffer lent) or freed. */
function spanSent(bytes: Buffer, pooled: Buffer | undefined): void {
  if (pooled && spareSpanBuffers.length < SPARE_SPAN_BUFFERS) spareSpanBuffers.push(pooled);
  else freeOwned(pooled ?? bytes);
}

/** Indexes of `locations` in the order the packs are read (byPackOrder). */
function packOrder(locations: readonly ChunkLocation[]): number[] {
  return locations.map((_, i) => i).sort((a, b) => byPackOrder(locations[a]!, locations[b]!));
}

/** The request's vault; its run is heard from, so the run's vouches there stay while it talks. */
async function vaultOf(ctx: RequestContext): Promise<Vault> {
  const vault = await ctx.store.open(ctx.match.vault!);
  vault.gcIndex.seen(ctx.run, now());
  return vault;
}

async function streamFile(ctx: RequestContext, path: string, status: number, headers: Record<string, string | number>, range?: { start: number; end: number }) {
  const file = createReadStream(path, { start: range?.start, end: range?.end, highWaterMark: 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', reject);
  });
  ctx.res.writeHead(status, { 'content-type': 'application/octet-stream', ...headers });
  // A client that goes away mid-answer ends the pipeline with an error nobody can be told about.
  await pipeline(file, ctx.res).catch(() => undefined);
}

/** Streams pack `name` (whole, or the one range asked). */
async function sendPack(ctx: RequestContext, vault: Vault, name: string): Promise<void> {
  const path = vault.packPath(name);
  const size = await stat(path).then(
    (s) => s.size,
    (e) => {
      throw fromSystemError(e, `pack ${name}`);
    },
  );
  const rangeHeader = ctx.req.headers.range;
  if (rangeHeader === undefined)
    return streamFile(ctx, path, 200, { 'content-length': size, 'accept-ranges': 'bytes' });
  const range = parseRange(rangeHeader, size);
  if (!range) {
    ctx.res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': 0 });
    return void ctx.res.end();
  }
  await streamFile(
    ctx,
    path,
    206,
    { 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${size}` },
    range,
  );
}

/** Sends the blobs `found` for `ids` (see the getBlobs route), checking first that each was found. */
async function sendBlobs(ctx: RequestContext, vault: Vault, ids: Buffer[], found: (ChunkLocation | undefined)[]): Promise<void> {
  const unknown = found.indexOf(undefined);
  if (unknown >= 0) {
    const id = ids[unknown]!.toString('hex');
    const indexed = vault.index.lookup([ids[unknown]!])[0];
    throw new CairnError(
      'E_NOT_FOUND',
      indexed
        ? `chunk ${id}: its pack ${indexed.pack} is indexed but its file is missing from vault ${vault.name} (vault scrub lists such packs)`
        : `chunk ${id} is not in this vault`,
    );
  }
  // Answered in the order the pack files are read (pack, then offset), not the order asked:
  // each pack is visited once per request and neighbours merge into one read.
  const order = packOrder(found as ChunkLocation[]);
  const locations = order.map((i) => found[i]!);
  const orderedIds = order.map((i) => ids[i]!);
  // Each blob is read with the 36 bytes before it in its pack (the end of its entry header,
  // overwritten below with the frame header: same size, so a frame is one slice to write), and
  // blobs lying next to each other in a pack are read together: few reads, few buffers, few
  // writes, and copies only of small frames.
  const places = locations.map((l) => {
    if (l.offset < BLOB_FRAME_HEADER) throw new CairnError('E_CORRUPT', `index of vault ${vault.name} places a blob inside pack ${l.pack}'s header`);
    return { pack: l.pack, offset: l.offset - BLOB_FRAME_HEADER, length: BLOB_FRAME_HEADER + l.length };
  });
  const total = locations.reduce((n, l) => n + BLOB_FRAME_HEADER + l.length, 0);
  ctx.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  const spans = planSpans(places, SPAN_BYTES, SPAN_GAP);
  const reads: (Promise<Buffer> | undefined)[] = [];
  const buffers: (Buffer | undefined)[] = [];
  let started = 0;
  let aheadBytes = 0;
  const startReads = () => {
    while (started < spans.length && (aheadBytes === 0 || aheadBytes + spans[started]!.length <= READ_AHEAD_BYTES)) {
      const span = spans[started]!;
      const buffer = spanBuffer(span.length);
      const read = vault.reader.read(span.pack, span.offset, span.length, buffer);
      buffers[started] = buffer;
      read.catch(() => undefined); // a failure is seen when its turn comes, not as an unhandled rejection
      reads[started++] = read;
      aheadBytes += span.length;
    }
  };
  startReads();
  for (let s = 0; s < spans.length; s++) {
    const span = spans[s]!;
    const bytes = await reads[s]!;
    const buffer = buffers[s];
    reads[s] = buffers[s] = undefined; // keep memory to the read-ahead window
    if (ctx.res.destroyed) throw new CairnError('E_UNAVAILABLE', 'client went away');
    // Large frames go out one write each, straight from the buffer; runs of small ones are
    // first moved together (closing the 5-byte gaps the entry headers leave) and go out as one.
    let runStart = 0;
    let runEnd = 0;
    for (let i = span.first; i < span.first + span.count; i++) {
      const at = places[i]!.offset - span.offset;
      const length = places[i]!.length;
      bytes.set(orderedIds[i]!, at);
      bytes.writeUInt32BE(locations[i]!.length, at + ID_SIZE);
      if (length >= SMALL_FRAME) {
        if (runEnd > runStart) await writeWhole(ctx.res, bytes.subarray(runStart, runEnd));
        await writeWhole(ctx.res, bytes.subarray(at, at + length));
        runStart = runEnd = at + length;
        continue;
      }
      if (runEnd === runStart) runStart = runEnd = at;
      else bytes.copyWithin(runEnd, at, at + length);
      runEnd += length;
      if (runEnd - runStart >= SMALL_FRAME) {
        await writeWhole(ctx.res, bytes.subarray(runStart, runEnd));
        runStart = runEnd = at + length;
      }
    }
    if (runEnd > runStart) await writeWhole(ctx.res, bytes.subarray(runStart, runEnd));
    spanSent(bytes, buffer); // every frame in it has gone out
    aheadBytes -= span.length;
    startReads();
  }
  ctx.res.end();
}

export const handlers: Record<RouteName, (ctx: RequestContext) => Promise<void>> = {
  async createVault(ctx) {
    ctx.startBody();
    const body = parseCreateVaultRequest(await readJson(ctx.req, LIMITS.jsonBytes, 'create vault'));
    await ctx.store.create(body.vault, body.config);
    sendJson(ctx.res, 201, { vault: body.vault });
  },

  async getVault(ctx) {
    sendJson(ctx.res, 200, (await vaultOf(ctx)).config);
  },

  async missing(ctx) {
    const vault = await vaultOf(ctx);
    ctx.startBody();
    const ids = splitIds(await readBody(ctx.req, LIMITS.missingIds * ID_SIZE, 'missing'), LIMITS.missingIds, 'missing');
    sendBytes(ctx.res, 200, Buffer.concat(await missingChunks(vault, ids, ctx.run)));
  },

  async locate(ctx) {
    const vault = await vaultOf(ctx);
    ctx.startBody();
    const ids = splitIds(await readBody(ctx.req, LIMITS.locateIds * ID_SIZE, 'locate'), LIMITS.locateIds, 'locate');
    sendBytes(ctx.res, 200, encodeLocateAnswer(await findChunks(vault, ids)));
  },

  async putPack(ctx) {
    const vault = await vaultOf(ctx);
    const name = ctx.match.name!;
    declaredLength(ctx.req, LIMITS.packBytes, `pack ${name}`);
    if (await packStored(vault, name)) return sendJson(ctx.res, 200, { pack: name, stored: false });
    ctx.startBody();
    const { stored } = await ingestPack(vault, name, ctx.req, ctx.run);
    sendJson(ctx.res, stored ? 201 : 200, { pack: name, stored });
  },

  async postPack(ctx) {
    // tests play a storage server from before this route (the agent then names its packs)
    if (testNumber('STORAGE_WITHOUT_POST_PACKS') === 1) throw new CairnError('E_NOT_FOUND', `no such route: POST ${ctx.req.url}`);
    const vault = await vaultOf(ctx);
    declaredLength(ctx.req, LIMITS.packBytes, 'pack');
    ctx.startBody();
    const { name, stored } = await ingestPack(vault, undefined, ctx.req, ctx.run);
    sendJson(ctx.res, stored ? 201 : 200, { pack: name, stored });
  },

  async getPack(ctx) {
    const vault = await vaultOf(ctx);
    const name = ctx.match.name!;
    if (!vault.index.hasPack(name)) throw new CairnError('E_NOT_FOUND', `no pack ${name} in vault ${vault.name}`);
    const release = vault.pins.hold([name]); // a gc retiring it meanwhile unlinks it after this answer
    try {
      await sendPack(ctx, vault, name);
    } finally {
      release();
    }
  },
  async getBlobs(ctx) {
    const vault = await vaultOf(ctx);
    ctx.startBody();
    const ids = splitIds(await readBody(ctx.req, LIMITS.blobIds * ID_SIZE, 'blobs'), LIMITS.blobIds, 'blobs');
    // every id known, and its pack file there, before a byte is sent; the packs stay pinned
    // until the answer is sent, so a gc that moves these chunks meanwhile unlinks nothing read here
    let release: (() => void) | undefined;
    try {
      await sendBlobs(ctx, vault, ids, await findChunks(vault, ids, { hold: (packs) => (release = vault.pins.hold(packs)) }));
    } finally {
      release?.();
    }
  },

  async putSnapshot(ctx) {
    const vault = await vaultOf(ctx);
    ctx.startBody();
    await putSnapshot(vault, ctx.match.name!, ctx.req);
    // committed: the snapshot's refs now protect what the run was promised (a gc marking after
    // this sees them: its listing under the commit gate comes after the commit)
    vault.gcIndex.release(ctx.run);
    vault.index.truncateWal(); // a backup's end: the vault may now sit idle for a day
    sendJson(ctx.res, 201, { snapshot: ctx.match.name });
  },

  async listSnapshots(ctx) {
    sendJson(ctx.res, 200, await listSnapshots(await vaultOf(ctx)));
  },

  async getSnapshot(ctx) {
    const record = await readSnapshot(await vaultOf(ctx), ctx.match.name!);
    sendJson(ctx.res, 200, { record: record.toString('base64') });
  },

  async getSnapshotRefs(ctx) {
    const vault = await vaultOf(ctx);
    const id = ctx.match.name!;
    await readSnapshot(vault, id); // 404 unless the snapshot itself exists
    const size = (await stat(refsPath(vault, id))).size;
    await streamFile(ctx, refsPath(vault, id), 200, { 'content-length': size });
  },

  // `net test`: the body is read and dropped (nothing is kept), and its size answered
  async netDiscard(ctx) {
    declaredLength(ctx.req, NETTEST_MAX_BYTES, 'net test upload');
    ctx.startBody();
    let bytes = 0;
    await consumeBody(ctx.req, (chunk) => {
      bytes += chunk.length;
      if (bytes > NETTEST_MAX_BYTES) throw new CairnError('E_TOO_LARGE', `net test upload is larger than the limit of ${NETTEST_MAX_BYTES} bytes`);
      return undefined;
    });
    sendJson(ctx.res, 200, { bytes });
  },

  async netPing(ctx) {
    sendJson(ctx.res, 200, {});
  },

  // a scrub of a large vault is silent for longer than the idle timeout: the answer starts at
  // once and JSON's leading whitespace keeps it moving until the report follows
  async scrub(ctx) {
    const vault = await vaultOf(ctx);
    ctx.res.writeHead(200, { 'content-type': 'application/json' });
    const keepAlive = setInterval(() => ctx.res.write(' '), dataIdleMs() / 3);
    try {
      const report = await scrubVault(vault);
      ctx.metrics?.scrubbed(report);
      ctx.res.end(JSON.stringify(report));
    } finally {
      clearInterval(keepAlive);
    }
  },
};

// One handler per data-plane route. Each receives a request already routed, its names already
// validated (protocol/data-plane.ts) and its caller already authorized (authorize.ts).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { CairnError, fromSystemError } from '../core/errors.ts';
import {
  BLOB_FRAME_HEADER,
  blobFrameHeader,
  ID_SIZE,
  LIMITS,
  parseCreateVaultRequest,
  parseRange,
  type RouteMatch,
  type RouteName,
  splitIds,
} from '../protocol/data-plane.ts';
import { declaredLength, readBody, readJson, sendBytes, sendJson, writeAll } from './http-io.ts';
import { ingestPack } from './pack-ingest.ts';
import { scrubVault } from './scrub.ts';
import { listSnapshots, putSnapshot, readSnapshot, refsPath } from './snapshot-store.ts';
import type { Vault, VaultStore } from './vault-store.ts';

export type RequestContext = {
  req: IncomingMessage;
  res: ServerResponse;
  match: RouteMatch;
  store: VaultStore;
  /** Sends `100 Continue` when the client asked for it: call right before reading a body. */
  startBody: () => void;
};

/** Read-ahead of the blobs answer: reads in flight while earlier blobs are written. */
const BLOB_READ_AHEAD = 16;

function vaultOf(ctx: RequestContext): Promise<Vault> {
  return ctx.store.open(ctx.match.vault!);
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
    sendBytes(ctx.res, 200, Buffer.concat(vault.index.missing(ids)));
  },

  async putPack(ctx) {
    const vault = await vaultOf(ctx);
    const name = ctx.match.name!;
    declaredLength(ctx.req, LIMITS.packBytes, `pack ${name}`);
    if (vault.index.hasPack(name)) return sendJson(ctx.res, 200, { pack: name, stored: false });
    ctx.startBody();
    const stored = await ingestPack(vault, name, ctx.req);
    sendJson(ctx.res, stored ? 201 : 200, { pack: name, stored });
  },

  async getPack(ctx) {
    const vault = await vaultOf(ctx);
    const name = ctx.match.name!;
    if (!vault.index.hasPack(name)) throw new CairnError('E_NOT_FOUND', `no pack ${name} in vault ${vault.name}`);
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
  },

  async getBlobs(ctx) {
    const vault = await vaultOf(ctx);
    ctx.startBody();
    const ids = splitIds(await readBody(ctx.req, LIMITS.blobIds * ID_SIZE, 'blobs'), LIMITS.blobIds, 'blobs');
    const locations = vault.index.locate(ids); // every id known before a byte is sent
    const total = locations.reduce((n, l) => n + BLOB_FRAME_HEADER + l.length, 0);
    ctx.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
    const reads: (Promise<Buffer> | undefined)[] = [];
    const startRead = (i: number) => {
      const l = locations[i];
      if (!l) return;
      const read = vault.reader.read(l.pack, l.offset, l.length);
      read.catch(() => undefined); // a failure is seen when its turn comes, not as an unhandled rejection
      reads[i] = read;
    };
    for (let i = 0; i < BLOB_READ_AHEAD; i++) startRead(i);
    for (let i = 0; i < ids.length; i++) {
      const sealed = await reads[i]!;
      startRead(i + BLOB_READ_AHEAD);
      await writeAll(ctx.res, blobFrameHeader(ids[i]!, sealed.length));
      await writeAll(ctx.res, sealed);
      reads[i] = undefined; // keep memory to the read-ahead window
    }
    ctx.res.end();
  },

  async putSnapshot(ctx) {
    const vault = await vaultOf(ctx);
    ctx.startBody();
    await putSnapshot(vault, ctx.match.name!, ctx.req);
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

  async scrub(ctx) {
    sendJson(ctx.res, 200, await scrubVault(await vaultOf(ctx)));
  },
};

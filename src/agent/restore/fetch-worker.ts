// Worker entry for restore and verify: each worker fetches its own batches of sealed blobs over
// connections of its own (blob-wire.ts) and opens them where they arrive (AES-GCM and zstd; the
// id re-check of a plaintext it sends is the main thread's, see FetchOutcome), so the main thread
// never touches sealed bytes: receiving over TLS was the restore's bottleneck when one thread did
// it for all (docs/performance.md, "restore in the fetching workers"). Plaintexts are opened into
// a ring the worker shares with the main thread (plain-ring.ts), which writes them from there and
// says which regions are written; what does not fit goes in a buffer of its own, moved (small
// ones packed together) and moved back once written (plain-buffers.ts). With each blob goes what
// it was: bytes, all zeros (a hole: no bytes travel) or why it failed. The worker stops reading
// once CREDIT_BYTES of plaintext are out and not yet acknowledged (the main thread acknowledges
// what it has handed to its writes), so a slow disk slows the socket, not the memory.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BLOB_DATA, checkBlobId, openBlob, openBlobUnchecked } from '../../core/blob.ts';
import { CairnError, isCairnError } from '../../core/errors.ts';
import { freeOwned } from '../../core/free-owned.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { BLOB_FRAME_HEADER } from '../../protocol/data-plane.ts';
import { workerClient, type WorkerClientOptions } from '../storage-client.ts';
import { type Batch, type BlobSource, fetchOne, type Fetched } from './blob-fetcher.ts';
import { BlobWires } from '../blob-wire.ts';
import { PlainBuffers, POOLED_MIN } from './plain-buffers.ts';
import { SealedBuffers } from './sealed-buffers.ts';
import { IN_RING, PlainRing } from './plain-ring.ts';

export type FetchWorkerData = {
  /** structured clone turns Buffers into Uint8Arrays */
  keys: { encKey: Uint8Array; idKey: Uint8Array; chunkerKey: Uint8Array };
  client: WorkerClientOptions;
  vault: string;
  /** false (verify): only the outcome of each blob comes back, no bytes */
  wantData: boolean;
  /** where plaintexts go (plain-ring.ts), when bytes are wanted */
  ring?: SharedArrayBuffer;
};

/**
 * main → worker: a batch to fetch (ids back to back, 32 bytes each), credit given back, a
 * plaintext buffer written and moved back to be reused, or no more batches.
 */
export type ToFetchWorker =
  | { kind: 'batch'; batch: number; ids: ArrayBuffer; grant?: string }
  | { kind: 'ack'; bytes: number }
  | { kind: 'give'; buffer: ArrayBuffer }
  | { kind: 'free'; offsets: number[] }
  | { kind: 'end' };

/**
 * Per blob: where its plaintext is (`buffer` indexes the message's buffers; IN_RING: at `offset`
 * in the worker's ring, to be freed once written; -1 when no bytes were asked for), -1 - length
 * for an all-zero blob, or why it failed (a missing one: E_NOT_FOUND).
 * A plaintext is authenticated but not yet checked against its id: the main thread does that
 * before using it (the worker is a restore's critical path; the main thread has CPU to spare).
 * An all-zero blob and one opened for verify only are checked here.
 */
export type FetchOutcome = { buffer: number; offset: number; length: number } | number | { code: string; message: string };

/** worker → main: opened blobs (`index`: position in its batch), or the failure that ends the restore. */
export type FromFetchWorker =
  | {
      kind: 'opened';
      items: { batch: number; index: number; outcome: FetchOutcome }[];
      buffers: ArrayBuffer[];
      /** plaintext bytes to be acknowledged */
      bytes: number;
      /** bytes received for these blobs (frames), per batch as [batch, bytes] */
      received: [number, number][];
    }
  | { kind: 'failed'; code: string; message: string };

/** Plaintext bytes out at the main thread and not acknowledged before this worker stops reading. */
export const CREDIT_BYTES = 8 * 1024 * 1024;
/** Opened blobs are sent once this many bytes are gathered (or when nothing more is ready). */
const MESSAGE_BYTES = 1024 * 1024;
/**
 * Free plaintext buffers a worker keeps for the next blobs: about what is out at the main thread
 * (CREDIT_BYTES) comes back as its writes finish. With a ring they serve only what it cannot hold.
 */
const PLAIN_KEPT = 16 * 1024 * 1024;
const PLAIN_KEPT_BESIDE_RING = 4 * 1024 * 1024;
/** Batches whose requests are out at once: the next answer is on its way while this one is read. */
const BATCHES_STARTED = 2;

let zeros = Buffer.alloc(0);

function isAllZero(b: Buffer): boolean {
  if (b.length > zeros.length) zeros = Buffer.alloc(Math.max(b.length, 4 << 20));
  return b.equals(zeros.subarray(0, b.length));
}

type Started = { batch: number; it: AsyncIterator<Fetched<number>>; first: Promise<IteratorResult<Fetched<number>>> };

function serve(): void {
  const port = parentPort!;
  const data = workerData as FetchWorkerData;
  const keys: VaultKeys = { encKey: Buffer.from(data.keys.encKey), idKey: Buffer.from(data.keys.idKey), chunkerKey: Buffer.from(data.keys.chunkerKey) };
  let grant = '';
  const client = workerClient(data.client, () => grant);
  const wires = new BlobWires(client);
  wires.warm(BATCHES_STARTED); // handshakes done while the pretreatment works, before the first batch
  const source: BlobSource = { getBlobs: (vault, ids, alloc) => wires.getBlobs(vault, ids, alloc), missing: (vault, ids) => client.missing(vault, ids) };
  const sealedBuffers = new SealedBuffers();
  const ring = data.ring && new PlainRing(data.ring, new PlainBuffers(PLAIN_KEPT_BESIDE_RING));
  const plainBuffers = ring ?? new PlainBuffers(PLAIN_KEPT);

  const queued: Extract<ToFetchWorker, { kind: 'batch' }>[] = [];
  const started: Started[] = [];
  let ended = false;
  let unacked = 0;
  let wake: (() => void) | undefined;
  const nudge = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  // the message being gathered
  let items: Extract<FromFetchWorker, { kind: 'opened' }>['items'] = [];
  let own: ArrayBuffer[] = [];
  let small: { plain: Buffer; outcome: { buffer: number; offset: number; length: number } }[] = [];
  let smallBytes = 0;
  let bytes = 0;
  let received = new Map<number, number>();

  const flush = () => {
    if (!items.length) return;
    const buffers = own;
    if (small.length) {
      const packed = new Uint8Array(new ArrayBuffer(smallBytes));
      for (const { plain, outcome } of small) {
        packed.set(plain, outcome.offset);
        outcome.buffer = buffers.length;
        freeOwned(plain);
      }
      buffers.push(packed.buffer);
    }
    const message: FromFetchWorker = { kind: 'opened', items, buffers, bytes, received: [...received] };
    port.postMessage(message, buffers);
    unacked += bytes;
    items = [];
    own = [];
    small = [];
    smallBytes = 0;
    bytes = 0;
    received = new Map();
  };

  let flushQueued = false;
  const flushSoon = () => {
    if (flushQueued) return;
    flushQueued = true;
    setImmediate(() => {
      flushQueued = false;
      flush();
    });
  };

  const open = (batch: number, fetched: Fetched<number>) => {
    const index = fetched.uses[0]!.index;
    if ('missing' in fetched) {
      items.push({ batch, index, outcome: { code: fetched.missing.code, message: fetched.missing.message } });
      return;
    }
    const sealed = fetched.sealed;
    received.set(batch, (received.get(batch) ?? 0) + BLOB_FRAME_HEADER + sealed.length);
    let outcome: FetchOutcome;
    try {
      // a plaintext that goes to the main thread is checked against its id there (chunk-fetchers.ts)
      const plain = data.wantData
        ? openBlobUnchecked(keys, BLOB_DATA, fetched.id, sealed, plainBuffers)
        : openBlob(keys, BLOB_DATA, fetched.id, sealed, plainBuffers);
      if (isAllZero(plain)) {
        try {
          if (data.wantData) checkBlobId(keys, fetched.id, plain);
        } finally {
          plainBuffers.give(plain);
        }
        outcome = -1 - plain.length;
      } else if (!data.wantData) {
        outcome = { buffer: -1, offset: 0, length: plain.length };
        plainBuffers.give(plain);
      } else if (ring?.holds(plain)) {
        outcome = { buffer: IN_RING, offset: plain.byteOffset, length: plain.length };
        bytes += plain.length;
      } else if (plain.length >= POOLED_MIN && plain.buffer instanceof ArrayBuffer && !own.includes(plain.buffer)) {
        // a large plaintext owns its buffer (plainBuffers', never Node's small-buffer pool)
        outcome = { buffer: own.length, offset: plain.byteOffset, length: plain.length };
        own.push(plain.buffer);
        bytes += plain.length;
      } else {
        const packedAt = { buffer: -1, offset: smallBytes, length: plain.length };
        small.push({ plain, outcome: packedAt });
        smallBytes += plain.length;
        bytes += plain.length;
        outcome = packedAt;
      }
    } catch (e) {
      outcome = { code: e instanceof CairnError ? e.code : 'E_INTERNAL', message: (e as Error).message };
    }
    sealedBuffers.give(sealed);
    items.push({ batch, index, outcome });
  };

  const startQueued = () => {
    while (started.length < BATCHES_STARTED && queued.length) {
      const task = queued.shift()!;
      if (task.grant !== undefined) grant = task.grant;
      const ids: Buffer[] = [];
      const all = Buffer.from(task.ids);
      for (let at = 0; at < all.length; at += 32) ids.push(all.subarray(at, at + 32));
      const batch: Batch<number> = { ids, uses: ids.map((_, index) => [{ file: task.batch, index }]) };
      const it = fetchOne(source, data.vault, batch, sealedBuffers.take)[Symbol.asyncIterator]();
      const first = it.next();
      first.catch(() => undefined); // awaited in its turn
      started.push({ batch: task.batch, it, first });
    }
  };

  const waitFor = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });

  port.on('message', (m: ToFetchWorker) => {
    if (m.kind === 'batch') queued.push(m);
    else if (m.kind === 'ack') unacked -= m.bytes;
    else if (m.kind === 'give') plainBuffers.give(Buffer.from(m.buffer));
    else if (m.kind === 'free') for (const offset of m.offsets) ring?.free(offset);
    else ended = true;
    if (m.kind === 'batch') startQueued();
    nudge();
  });

  const run = async () => {
    for (;;) {
      startQueued();
      const head = started[0];
      if (!head) {
        if (ended && !queued.length) return;
        await waitFor();
        continue;
      }
      let r = await head.first;
      while (!r.done) {
        open(head.batch, r.value);
        if (bytes >= MESSAGE_BYTES || items.length >= 4096) flush();
        while (unacked >= CREDIT_BYTES) {
          flush();
          await waitFor();
        }
        // once nothing more is ready (the loop turns to the network), what is gathered goes
        flushSoon();
        r = await head.it.next();
      }
      started.shift();
    }
  };
  run().then(
    () => flush(),
    (e: unknown) => {
      flush();
      const code = isCairnError(e) ? e.code : 'E_INTERNAL';
      port.postMessage({ kind: 'failed', code, message: (e as Error)?.message ?? String(e) } satisfies FromFetchWorker);
    },
  );
}

// imported on the main thread too (its types and CREDIT_BYTES): serve only in a worker
if (!isMainThread) serve();

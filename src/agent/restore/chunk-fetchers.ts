// The data-moving middle of a restore (and of verify at level data): batches of chunk ids
// (blob-fetcher.ts) are handed to worker threads (fetch-worker.ts), each of which fetches its
// batches over a connection of its own and opens the blobs there; the main thread gets back
// plaintexts, holes and errors, checks each plaintext against its id (the worker leaves that to
// this thread: see FetchOutcome), and hands each to the chunk's users. Each worker has at most
// BATCHES_PER_WORKER batches at once, so the batches go out in order, to whichever worker has
// fewer.
//
// Memory: a worker stops reading once CREDIT_BYTES of its plaintext wait for acknowledgement.
// A message is acknowledged once the writes are within their budget and, for a worker that does
// not hold the oldest unfinished batch, once the chunks held back for their files' earlier chunks
// (which a later batch on another worker can deliver first) are under HELD_BYTES. The oldest
// batch's worker is never held back on that count: its chunks are what the held ones wait for.
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { checkBlobId } from '../../core/blob.ts';
import { CairnError, type ErrorCode } from '../../core/errors.ts';
import { BufferLease, freeOwned } from '../../core/free-owned.ts';
import type { VaultKeys } from '../../core/keys.ts';
import type { StorageClient } from '../storage-client.ts';
import type { Batch, ChunkUse } from './blob-fetcher.ts';
import type { FetchOutcome, FromFetchWorker, ToFetchWorker } from './fetch-worker.ts';
import { type EarlyFetchWorker, startFetchWorker } from './fetch-worker-start.ts';
import { IN_RING } from './plain-ring.ts';
import type { ChunkContent, WriteBudget } from './file-writer.ts';

const BATCHES_PER_WORKER = 2;

/**
 * A restore's workers when none are asked for: one per CPU but one. The main thread is a busy
 * part of a restore (files made, written and put in place: about a quarter of its CPU), and each
 * worker, with its isolate and connection, holds ~50 MB at its peak; on 2 CPUs one worker
 * restored as fast as two under load and kept the agent's peak ~55 MB lower
 * (docs/performance.md, "restore in the fetching workers").
 */
export function defaultRestoreWorkers(): number {
  return Math.max(1, os.availableParallelism() - 1);
}
/** Chunks held back for their files' earlier chunks before workers other than the oldest batch's wait. */
const HELD_BYTES = 16 * 1024 * 1024;

export type ChunkFetchersOptions<F> = {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  workers: number;
  budget: WriteBudget;
  deliver: (uses: ChunkUse<F>[], content: ChunkContent) => void;
  /** false: only whether each chunk checked out (verify); no plaintext comes back */
  wantData?: boolean;
  /** a worker started ahead with the same client, vault, keys and wantData: the first one, if it is alive */
  early?: EarlyFetchWorker;
};

type InFlight<F> = { batch: Batch<F>; left: number; slot: Slot; received: number; metered?: (moved: { sent: number; received: number }) => void };

/** A worker; `freed`: offsets of its ring written and not yet told (sent together, see freeInRing). */
type Slot = { worker: Worker; batches: number[]; owed: number; ring?: SharedArrayBuffer; freed: number[] };

export class ChunkFetchers<F> {
  private readonly opts: ChunkFetchersOptions<F>;
  private readonly slots: Slot[] = [];
  private readonly inFlight = new Map<number, InFlight<F>>();
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private ackWaiting = false;

  constructor(opts: ChunkFetchersOptions<F>) {
    this.opts = opts;
  }

  /** Fetches, opens and delivers every chunk of every batch; resolves once all were delivered. */
  async openAll(batches: AsyncIterable<Batch<F>>): Promise<void> {
    const input = batches[Symbol.asyncIterator]();
    let next = 0;
    let inputDone = false;
    for (;;) {
      this.throwIfFailed();
      let slot = this.freeSlot();
      while (!inputDone && slot) {
        const r = await input.next();
        this.throwIfFailed();
        if (r.done) {
          inputDone = true;
          for (const s of this.slots) s.worker.postMessage({ kind: 'end' } satisfies ToFetchWorker);
          break;
        }
        if (r.value.ids.length) this.send(slot, next++, r.value); // (the batcher makes no empty ones)
        slot = this.freeSlot();
      }
      if (inputDone && this.inFlight.size === 0) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async close(): Promise<void> {
    // a failed or canceled restore: the batches still out end their share of the run's transfer figures
    for (const f of this.inFlight.values()) f.metered?.({ sent: f.batch.ids.length * 32, received: f.received });
    this.inFlight.clear();
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private nudge(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** A worker with room for another batch (the one with fewest), starting one while there are fewer than asked. */
  private freeSlot(): Slot | undefined {
    if (this.slots.length < this.opts.workers && this.slots.every((s) => s.batches.length > 0)) return this.spawn();
    let best: Slot | undefined;
    for (const s of this.slots) if (s.batches.length < BATCHES_PER_WORKER && (!best || s.batches.length < best.batches.length)) best = s;
    return best;
  }

  private send(slot: Slot, number: number, batch: Batch<F>): void {
    const ids = new Uint8Array(new ArrayBuffer(batch.ids.length * 32));
    batch.ids.forEach((id, i) => ids.set(id, i * 32));
    slot.batches.push(number);
    this.inFlight.set(number, { batch, left: batch.ids.length, slot, received: 0, metered: this.opts.client.meterBegin() });
    this.opts.client.countSent(ids.length);
    const message: ToFetchWorker = { kind: 'batch', batch: number, ids: ids.buffer, grant: this.opts.client.grantNow() };
    slot.worker.postMessage(message, [ids.buffer]);
  }

  private spawn(): Slot {
    const { worker, ring } = (this.slots.length === 0 ? this.opts.early?.take() : undefined) ?? startFetchWorker(this.opts);
    const slot: Slot = { worker, batches: [], owed: 0, ring, freed: [] };
    worker.on('message', (m: FromFetchWorker) => {
      if (m.kind === 'failed') this.fail(new CairnError(m.code as ErrorCode, m.message));
      else this.take(slot, m);
    });
    worker.on('error', (e) => this.fail(new CairnError('E_INTERNAL', `restore worker failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) this.fail(new CairnError('E_INTERNAL', `restore worker exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.nudge();
  }

  private take(slot: Slot, m: Extract<FromFetchWorker, { kind: 'opened' }>): void {
    if (this.failure) return;
    for (const [batch, bytes] of m.received) {
      const f = this.inFlight.get(batch);
      if (f) f.received += bytes;
    }
    // each buffer of the message goes back to its worker once its chunks are written (held while in writes)
    const giveBack = (b: Uint8Array) => this.giveBack(slot, b);
    const leases = m.buffers.map((b) => new BufferLease(new Uint8Array(b), giveBack));
    for (const { batch, index, outcome } of m.items) {
      const f = this.inFlight.get(batch);
      const inRing = typeof outcome === 'object' && 'buffer' in outcome && outcome.buffer === IN_RING;
      if (!f) {
        if (inRing) this.freeInRing(slot, outcome.offset);
        continue;
      }
      let content: ChunkContent;
      let lease: BufferLease | undefined;
      if (inRing) {
        // a view of the worker's ring: its region goes back once every write of it is done
        const data = Buffer.from(slot.ring!, outcome.offset, outcome.length);
        lease = new BufferLease(data, () => this.freeInRing(slot, outcome.offset));
        content = { data, length: outcome.length, lease };
      } else content = contentOf(outcome, m.buffers, leases);
      this.opts.deliver(f.batch.uses[index]!, checked(this.opts.keys, f.batch.ids[index]!, content));
      lease?.release();
      if (--f.left > 0) continue;
      this.inFlight.delete(batch);
      f.metered?.({ sent: f.batch.ids.length * 32, received: f.received });
      f.slot.batches.splice(f.slot.batches.indexOf(batch), 1);
      this.nudge();
    }
    for (const lease of leases) lease.release();
    slot.owed += m.bytes;
    this.ack();
  }

  /** A region of a worker's ring is written: told to the worker with the others freed in this turn. */
  private freeInRing(slot: Slot, offset: number): void {
    if (slot.freed.push(offset) > 1) return;
    setImmediate(() => {
      const offsets = slot.freed.splice(0);
      if (this.slots.includes(slot)) slot.worker.postMessage({ kind: 'free', offsets } satisfies ToFetchWorker);
    });
  }

  /** Moves a written plaintext buffer back to the worker it came from, to open more blobs into (plain-buffers.ts). */
  private giveBack(slot: Slot, b: Uint8Array): void {
    if (!this.slots.includes(slot) || !(b.buffer instanceof ArrayBuffer) || b.buffer.detached) return freeOwned(b); // the worker is gone
    slot.worker.postMessage({ kind: 'give', buffer: b.buffer } satisfies ToFetchWorker, [b.buffer]);
  }

  /** Gives credit back to every worker that may go on (see the header). */
  private ack(): void {
    const budget = this.opts.budget;
    if (budget.bytes > budget.limit) {
      if (this.ackWaiting) return;
      this.ackWaiting = true;
      void budget.room()!.then(() => {
        this.ackWaiting = false;
        this.ack();
      });
      return;
    }
    const oldest = Math.min(...this.inFlight.keys());
    for (const s of this.slots) {
      if (s.owed === 0) continue;
      if (budget.held >= HELD_BYTES && !s.batches.includes(oldest)) continue;
      s.worker.postMessage({ kind: 'ack', bytes: s.owed } satisfies ToFetchWorker);
      s.owed = 0;
    }
  }
}

/** A plaintext from a worker once checked against its id (FetchOutcome): E_CORRUPT in its place if it does not match. */
function checked(keys: VaultKeys, id: Buffer, content: ChunkContent): ChunkContent {
  if (!('data' in content) || !content.data) return content;
  try {
    checkBlobId(keys, id, content.data);
  } catch (e) {
    return { error: e as CairnError };
  }
  return content;
}

function contentOf(outcome: FetchOutcome, buffers: ArrayBuffer[], leases: BufferLease[]): ChunkContent {
  if (typeof outcome === 'number') return { data: null, length: -1 - outcome };
  if ('code' in outcome) return { error: new CairnError(outcome.code as ErrorCode, outcome.message) };
  if (outcome.buffer < 0) return { data: null, length: outcome.length }; // verify: checked, no bytes asked for
  const data = Buffer.from(buffers[outcome.buffer]!, outcome.offset, outcome.length);
  return { data, length: outcome.length, lease: leases[outcome.buffer] };
}

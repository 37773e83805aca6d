// The CPU-heavy middle of a restore: sealed blobs, as they stream in, are grouped into worker
// tasks (small blobs travel together, a large one alone so its buffer is moved, not copied),
// opened on the pool (open-worker.ts), and each plaintext, hole or error is handed to the chunk's
// users. Memory is bounded by the sealed bytes out at the workers and by the write budget.
import { CairnError, type ErrorCode } from '../../core/errors.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { WorkerPool } from '../worker-pool.ts';
import type { ChunkUse, Fetched } from './blob-fetcher.ts';
import type { ChunkContent, WriteBudget } from './file-writer.ts';
import type { OpenResult, OpenTask, OpenWorkerData } from './open-worker.ts';

/** Sealed bytes grouped into one worker task. */
const TASK_BYTES = 1024 * 1024;
const TASK_BLOBS = 256;
/** A blob this large travels alone. */
const ALONE_BYTES = 256 * 1024;
/** Sealed bytes handed to workers and not yet back. */
const OPENING_BYTES = 16 * 1024 * 1024;
const TASKS_PER_WORKER = 2;

type SealedBlob<F> = Extract<Fetched<F>, { sealed: Uint8Array }>;

export class ChunkOpener<F> {
  private readonly pool: WorkerPool<OpenTask, OpenResult>;
  private readonly budget: WriteBudget;
  private readonly deliver: (uses: ChunkUse<F>[], content: ChunkContent) => void;

  constructor(
    keys: VaultKeys,
    workers: number,
    budget: WriteBudget,
    deliver: (uses: ChunkUse<F>[], content: ChunkContent) => void,
  ) {
    const workerData: OpenWorkerData = keys;
    this.pool = new WorkerPool(new URL('./open-worker.ts', import.meta.url), { size: workers, workerData });
    this.budget = budget;
    this.deliver = deliver;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Opens every fetched blob and delivers it; resolves when all have been delivered. */
  async openAll(blobs: AsyncIterable<Fetched<F>>): Promise<void> {
    let opening = 0;
    let wake: (() => void) | undefined;
    const inFlight = new Set<Promise<void>>();
    let group: SealedBlob<F>[] = [];
    let groupBytes = 0;
    const submit = () => {
      const task = group;
      const bytes = groupBytes;
      group = [];
      groupBytes = 0;
      opening += bytes;
      const p = this.openGroup(task).finally(() => {
        opening -= bytes;
        inFlight.delete(p);
        wake?.();
      });
      inFlight.add(p);
    };
    for await (const blob of blobs) {
      if ('missing' in blob) {
        this.deliver(blob.uses, { error: blob.missing });
        continue;
      }
      if (blob.sealed.length >= ALONE_BYTES && group.length) submit();
      group.push(blob);
      groupBytes += blob.sealed.length;
      if (groupBytes < TASK_BYTES && group.length < TASK_BLOBS) continue;
      submit();
      while (opening > OPENING_BYTES || inFlight.size > this.pool.size * TASKS_PER_WORKER) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      await this.budget.room();
    }
    if (group.length) submit();
    while (inFlight.size) await Promise.all([...inFlight]);
  }

  private async openGroup(blobs: SealedBlob<F>[]): Promise<void> {
    const ids = new Uint8Array(new ArrayBuffer(blobs.length * 32));
    blobs.forEach((b, i) => {
      ids.set(b.id, i * 32);
    });
    const lengths = blobs.map((b) => b.sealed.length);
    const sealed = sealedTogether(blobs);
    const { buffers, outcomes } = await this.pool.run({ sealed, ids: ids.buffer, lengths }, [sealed, ids.buffer]);
    outcomes.forEach((outcome, i) => {
      const uses = blobs[i]!.uses;
      if (typeof outcome === 'number') this.deliver(uses, { data: null, length: -1 - outcome });
      else if ('code' in outcome)
        this.deliver(uses, { error: new CairnError(outcome.code as ErrorCode, outcome.message) });
      else
        this.deliver(uses, {
          data: Buffer.from(buffers[outcome.buffer]!, outcome.offset, outcome.length),
          length: outcome.length,
        });
    });
  }
}

/**
 * The group's sealed bytes in one buffer of their own, to be moved to a worker: a lone blob that
 * already owns its buffer goes as it is; otherwise they are copied together.
 */
function sealedTogether<F>(blobs: SealedBlob<F>[]): ArrayBuffer {
  const only = blobs.length === 1 ? blobs[0]!.sealed : undefined;
  if (
    only &&
    only.byteOffset === 0 &&
    only.buffer instanceof ArrayBuffer &&
    only.byteLength === only.buffer.byteLength &&
    only.length >= ALONE_BYTES
  )
    return only.buffer;
  let total = 0;
  for (const b of blobs) total += b.sealed.length;
  const out = new Uint8Array(new ArrayBuffer(total));
  let at = 0;
  for (const b of blobs) {
    out.set(b.sealed, at);
    at += b.sealed.length;
  }
  return out.buffer;
}

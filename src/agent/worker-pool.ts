// A pool of worker_threads running one entry module, for the CPU-heavy stages of backup
// (read, chunk, hash, compress, seal) and restore (open, check). The main thread hands out
// tasks as messages; each worker runs one task at a time, so a task should be a few
// milliseconds of work or more. Bulk bytes travel as transferred ArrayBuffers, never copied.
// Urgent tasks (work that frees memory, e.g. sealing data already read) jump the queue.
//
// Worker side: the entry module calls serveTasks(handler) once.
import { isMainThread, parentPort, type TransferListItem, Worker } from 'node:worker_threads';
import { CairnError, ERROR_CODES, type ErrorCode } from '../core/errors.ts';
import { collectYoung } from './gc-nudge.ts';

export type TaskReply<R> = { result: R; transfer?: TransferListItem[] };

type Job = {
  task: unknown;
  transfer: TransferListItem[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
};

type WireReply = { ok: true; result: unknown } | { ok: false; code: string; message: string; stack?: string };

type Slot = { worker: Worker; job: Job | undefined };

export type WorkerPoolOptions = {
  /** number of threads (at least 1) */
  size: number;
  /** passed to every worker as `workerData` (structured clone: keys, parameters) */
  workerData?: unknown;
};

export class WorkerPool<Task, Result> {
  readonly size: number;
  #entry: URL;
  #workerData: unknown;
  #slots: Slot[] = [];
  #urgent: Job[] = [];
  #normal: Job[] = [];
  #failure: Error | undefined;
  #closed = false;

  constructor(entry: URL, options: WorkerPoolOptions) {
    this.size = Math.max(1, Math.floor(options.size));
    this.#entry = entry;
    this.#workerData = options.workerData;
  }

  /** Queued plus running tasks. */
  get pending(): number {
    return this.#urgent.length + this.#normal.length + this.#slots.filter((s) => s.job).length;
  }

  /** True when a task submitted now would start at once. */
  get hasIdleWorker(): boolean {
    return (
      this.#urgent.length + this.#normal.length === 0 && this.#slots.filter((s) => s.job).length < this.size
    );
  }

  /** Runs one task on some worker; `transfer` lists ArrayBuffers moved (not copied) with it. */
  run(task: Task, transfer: TransferListItem[] = [], urgent = false): Promise<Result> {
    if (this.#closed) return Promise.reject(new CairnError('E_INTERNAL', 'worker pool is closed'));
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<Result>((resolve, reject) => {
      const job: Job = { task, transfer, resolve: resolve as (v: unknown) => void, reject };
      (urgent ? this.#urgent : this.#normal).push(job);
      this.#dispatch();
    });
  }

  /** Stops every worker; tasks still queued or running are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#failAll(new CairnError('E_INTERNAL', 'worker pool closed'));
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#urgent.length + this.#normal.length > 0) {
      let slot = this.#slots.find((s) => !s.job);
      if (!slot && this.#slots.length < this.size) slot = this.#spawn();
      if (!slot) return;
      const job = (this.#urgent.length > 0 ? this.#urgent : this.#normal).shift()!;
      slot.job = job;
      slot.worker.postMessage(job.task, job.transfer);
    }
  }

  // Workers start lazily: a backup with nothing to read never pays for them.
  #spawn(): Slot {
    const worker = new Worker(this.#entry, { workerData: this.#workerData });
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (reply: WireReply) => {
      const job = slot.job;
      slot.job = undefined;
      if (job) {
        if (reply.ok) job.resolve(reply.result);
        else job.reject(errorFromWire(reply));
      }
      this.#dispatch();
    });
    worker.on('error', (e) => this.#crash(slot, e));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#crash(slot, new Error(`worker exited with code ${code}`));
    });
    this.#slots.push(slot);
    return slot;
  }

  // A worker that dies takes the pool with it: its task's state is unknown, and a pipeline
  // that silently lost a task would write an incomplete snapshot.
  #crash(slot: Slot, e: Error): void {
    if (this.#failure || this.#closed) return;
    this.#failure = new CairnError('E_INTERNAL', `worker thread failed: ${e.message}`, { cause: e });
    slot.job?.reject(this.#failure);
    slot.job = undefined;
    this.#failAll(this.#failure);
    for (const s of this.#slots) void s.worker.terminate();
  }

  #failAll(e: Error): void {
    for (const job of [...this.#urgent, ...this.#normal]) job.reject(e);
    this.#urgent = [];
    this.#normal = [];
    for (const s of this.#slots) {
      s.job?.reject(e);
      s.job = undefined;
    }
  }
}

function errorFromWire(reply: { code: string; message: string; stack?: string }): Error {
  if (reply.code in ERROR_CODES) return new CairnError(reply.code as ErrorCode, reply.message);
  const e = new CairnError('E_INTERNAL', reply.message);
  if (reply.stack) e.stack = reply.stack;
  return e;
}

/** Worker side: answers every task message with the handler's result (or its error). */
export function serveTasks<Task, Result>(
  handler: (task: Task) => TaskReply<Result> | Promise<TaskReply<Result>>,
): void {
  if (isMainThread || !parentPort)
    throw new CairnError('E_INTERNAL', 'serveTasks() must run in a worker thread');
  const port = parentPort;
  port.on('message', async (task: Task) => {
    try {
      const { result, transfer } = await handler(task);
      port.postMessage({ ok: true, result } satisfies WireReply, transfer ?? []);
      // the task's dead buffers go now, not after tens of MB of them have piled up
      collectYoung();
    } catch (e) {
      const err = e as Error;
      const code = e instanceof CairnError ? e.code : 'E_INTERNAL';
      port.postMessage({
        ok: false,
        code,
        message: err?.message ?? String(e),
        stack: err?.stack,
      } satisfies WireReply);
    }
  });
}

// Starting the fetching workers (fetch-worker.ts) of a restore or a verify, and starting one early:
// a worker's isolate takes 60-130 ms here to boot and load its modules before it can ask for a
// blob, so a restore starts its first worker while the pretreatment walks the trees
// (run-restore.ts) and its chunk fetchers take that one instead of starting their own.
import { Worker } from 'node:worker_threads';
import type { VaultKeys } from '../../core/keys.ts';
import type { StorageClient } from '../storage-client.ts';
import type { FetchWorkerData } from './fetch-worker.ts';
import { RING_BYTES } from './plain-ring.ts';

export type FetchWorkerSetup = {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  /** false: only whether each chunk checked out (verify); no plaintext comes back, no ring */
  wantData?: boolean;
};

/** A started worker and the ring it opens plaintexts into (plain-ring.ts), when bytes are wanted. */
export type StartedWorker = { worker: Worker; ring?: SharedArrayBuffer };

export function startFetchWorker(setup: FetchWorkerSetup): StartedWorker {
  const { keys, client, vault, wantData } = setup;
  const ring = wantData !== false ? new SharedArrayBuffer(RING_BYTES) : undefined;
  const workerData: FetchWorkerData = { keys, client: client.workerOptions(), vault, wantData: wantData !== false, ring };
  return { worker: new Worker(new URL('./fetch-worker.ts', import.meta.url), { workerData }), ring };
}

/**
 * One worker started before the restore that uses it. The chunk fetchers take() it for their
 * first worker; one that failed or ended before that is not handed out (they start their own,
 * which reports why if it fails too). close() ends it if nobody took it (a dry run, a failed
 * pretreatment).
 */
export class EarlyFetchWorker {
  #started: StartedWorker | undefined;
  #gone = false;
  readonly #onGone = () => {
    this.#gone = true;
  };

  /** `start`: how to start it (tests watch the worker) */
  constructor(setup: FetchWorkerSetup, start = startFetchWorker) {
    this.#started = start(setup);
    this.#started.worker.once('error', this.#onGone).once('exit', this.#onGone);
  }

  /** The worker for a fetcher set made with the same setup: once, and only while it is alive. */
  take(): StartedWorker | undefined {
    const started = this.#started;
    this.#started = undefined;
    if (!started) return undefined;
    started.worker.off('error', this.#onGone).off('exit', this.#onGone);
    if (!this.#gone) return started;
    void started.worker.terminate();
    return undefined;
  }

  /** Ends the worker unless it was taken. */
  async close(): Promise<void> {
    const started = this.#started;
    this.#started = undefined;
    if (!started) return;
    await started.worker.terminate();
    started.worker.off('error', this.#onGone).off('exit', this.#onGone);
  }
}

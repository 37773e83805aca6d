// Fetching the chunks of the files being restored: the files' chunk ids, in walk order (which is
// the backup's scan order, so about pack order), are grouped into batches of at most 4,096 unique
// ids and a bounded estimate of bytes; each batch is one `blobs` request, which the storage
// server answers in pack order (each pack of the batch read once, neighbours merged). The
// restore's workers (fetch-worker.ts) fetch them, the next request started while the current
// one streams, so the server's lookup overlaps ours. A batch naming an unknown id is refused
// whole by the server (404 before any byte); the missing ids are then asked for, reach their
// files as errors, and the rest is fetched again (fetchOne).
import { CairnError, isCairnError } from '../../core/errors.ts';

/** Where a chunk goes: chunk `index` of some file (the caller's type). */
export type ChunkUse<F> = { file: F; index: number };

export type Batch<F> = { ids: Buffer[]; uses: ChunkUse<F>[][] };

export type BlobSource = {
  getBlobs(vault: string, ids: readonly Buffer[], alloc?: (length: number) => Buffer): AsyncIterable<{ id: Buffer; sealed: Buffer }>;
  missing(vault: string, ids: readonly Buffer[]): Promise<Buffer[]>;
};

/** One fetched chunk (sealed bytes), or one the server does not have. */
export type Fetched<F> = { uses: ChunkUse<F>[]; id: Buffer } & (
  | { sealed: Uint8Array }
  | { missing: CairnError }
);

export type BatchLimits = { maxIds: number; maxBytes: number };

/**
 * The batches a restore asks for: about 32 MiB each, and at most 1,024 chunks: every file of a
 * batch is in flight until written, so with tiny files 4,096 a batch kept ~8,000 files (and their
 * writers) alive at once (restore of 100,000 tiny files: peak 302-320 -> 254-284 MB, same time).
 */
export const RESTORE_BATCH_LIMITS: BatchLimits = { maxIds: 1024, maxBytes: 32 * 1024 * 1024 };

/**
 * Groups files' chunks into batches, in the order given; an id repeated inside a batch (duplicate
 * files, runs of zeros) is fetched once and used everywhere. The restore's pretreatment runs the
 * same grouping to plan the reads (read-plan.ts), so its plan is the restore's.
 */
export class ChunkBatcher<F> {
  readonly #limits: BatchLimits;
  #batch: Batch<F> = { ids: [], uses: [] };
  #seen = new Map<string, number>();
  #bytes = 0;

  constructor(limits: BatchLimits) {
    this.#limits = limits;
  }

  /** Adds a file's chunks (`size`: its bytes, for the estimate); returns the batches it filled. */
  add(file: F, ids: readonly Buffer[], size: number): Batch<F>[] {
    const full: Batch<F>[] = [];
    const estimate = ids.length ? Math.ceil(size / ids.length) : 0;
    for (let index = 0; index < ids.length; index++) {
      const id = ids[index]!;
      const key = id.toString('latin1');
      const at = this.#seen.get(key);
      if (at !== undefined) {
        this.#batch.uses[at]!.push({ file, index });
        continue;
      }
      const batch = this.#batch;
      if (batch.ids.length >= this.#limits.maxIds || (this.#bytes + estimate > this.#limits.maxBytes && batch.ids.length > 0)) {
        full.push(batch);
        this.#batch = { ids: [], uses: [] };
        this.#seen = new Map();
        this.#bytes = 0;
      }
      this.#seen.set(key, this.#batch.ids.length);
      this.#batch.ids.push(id);
      this.#batch.uses.push([{ file, index }]);
      this.#bytes += estimate;
    }
    return full;
  }

  /** The last, partly filled batch, if any. */
  end(): Batch<F> | undefined {
    const last = this.#batch;
    this.#batch = { ids: [], uses: [] };
    this.#seen = new Map();
    this.#bytes = 0;
    return last.ids.length ? last : undefined;
  }
}

/** The batches of `files`' chunks (see ChunkBatcher). */
export async function* batchChunks<F>(
  files: AsyncIterable<F>,
  chunksOf: (file: F) => { ids: Buffer[]; size: number },
  limits: BatchLimits,
): AsyncGenerator<Batch<F>> {
  const batcher = new ChunkBatcher<F>(limits);
  for await (const file of files) {
    const { ids, size } = chunksOf(file);
    yield* batcher.add(file, ids, size);
  }
  const last = batcher.end();
  if (last) yield last;
}

/**
 * The blobs of one batch. When the server refuses it because some ids are unknown, asks which
 * ones, reports those as missing and fetches the rest. `alloc`: see StorageClient.getBlobs.
 */
export async function* fetchOne<F>(
  source: BlobSource,
  vault: string,
  batch: Batch<F>,
  alloc?: (length: number) => Buffer,
): AsyncGenerator<Fetched<F>> {
  // the answer comes in pack order: each blob finds its uses by id (ids are unique in a batch)
  const at = new Map<string, number>();
  batch.ids.forEach((id, i) => at.set(id.toString('latin1'), i));
  let received = 0;
  try {
    for await (const blob of source.getBlobs(vault, batch.ids, alloc)) {
      const i = at.get(blob.id.toString('latin1'));
      if (i === undefined)
        throw new CairnError('E_CORRUPT', 'the storage server answered with blobs other than those asked for');
      at.delete(blob.id.toString('latin1'));
      received++;
      yield { uses: batch.uses[i]!, id: batch.ids[i]!, sealed: blob.sealed };
    }
  } catch (e) {
    // only a refusal before any byte means "some id is unknown"; anything later is a real failure
    if (!isCairnError(e, 'E_NOT_FOUND') || received !== 0) throw e;
    const missing = new Set((await source.missing(vault, batch.ids)).map((id) => id.toString('latin1')));
    if (missing.size === 0) throw e;
    const rest: Batch<F> = { ids: [], uses: [] };
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      if (missing.has(id.toString('latin1'))) {
        yield {
          uses: batch.uses[i]!,
          id,
          missing: new CairnError('E_NOT_FOUND', 'chunk is missing from the vault'),
        };
      } else {
        rest.ids.push(id);
        rest.uses.push(batch.uses[i]!);
      }
    }
    if (rest.ids.length) yield* fetchOne(source, vault, rest, alloc);
    return;
  }
  if (received !== batch.ids.length)
    throw new CairnError('E_CORRUPT', 'the storage server answered with fewer blobs than asked for');
}

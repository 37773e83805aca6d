// Fetching the chunks of the files being restored: the files' chunk ids, in walk order (which is
// the backup's scan order, so about pack order), are grouped into batches of at most 4,096 unique
// ids and a bounded estimate of bytes; each batch is one `blobs` request, and the next requests
// are started while the current one streams, so the server's lookup overlaps our work.
// A batch naming an unknown id is refused whole by the server (404 before any byte); the missing
// ids are then asked for, reach their files as errors, and the rest is fetched again.
import { CairnError, isCairnError } from '../../core/errors.ts';

/** Where a chunk goes: chunk `index` of some file (the caller's type). */
export type ChunkUse<F> = { file: F; index: number };

export type Batch<F> = { ids: Buffer[]; uses: ChunkUse<F>[][] };

export type BlobSource = {
  getBlobs(vault: string, ids: readonly Buffer[]): AsyncIterable<{ id: Buffer; sealed: Buffer }>;
  missing(vault: string, ids: readonly Buffer[]): Promise<Buffer[]>;
};

/** One fetched chunk (sealed bytes), or one the server does not have. */
export type Fetched<F> = { uses: ChunkUse<F>[]; id: Buffer } & (
  | { sealed: Uint8Array }
  | { missing: CairnError }
);

export type BatchLimits = { maxIds: number; maxBytes: number };

/**
 * Groups the chunks of `files` into batches; an id repeated inside a batch (duplicate files, runs
 * of zeros) is fetched once and used everywhere.
 */
export async function* batchChunks<F>(
  files: AsyncIterable<F>,
  chunksOf: (file: F) => { ids: Buffer[]; size: number },
  limits: BatchLimits,
): AsyncGenerator<Batch<F>> {
  let batch: Batch<F> = { ids: [], uses: [] };
  let seen = new Map<string, number>();
  let bytes = 0;
  for await (const file of files) {
    const { ids, size } = chunksOf(file);
    const estimate = ids.length ? Math.ceil(size / ids.length) : 0;
    for (let index = 0; index < ids.length; index++) {
      const id = ids[index]!;
      const key = id.toString('latin1');
      const at = seen.get(key);
      if (at !== undefined) {
        batch.uses[at]!.push({ file, index });
        continue;
      }
      if (batch.ids.length >= limits.maxIds || (bytes + estimate > limits.maxBytes && batch.ids.length > 0)) {
        yield batch;
        batch = { ids: [], uses: [] };
        seen = new Map();
        bytes = 0;
      }
      seen.set(key, batch.ids.length);
      batch.ids.push(id);
      batch.uses.push([{ file, index }]);
      bytes += estimate;
    }
  }
  if (batch.ids.length) yield batch;
}

/**
 * The blobs of every batch, in order, with up to `ahead` requests started beyond the one being
 * read. Failures other than unknown ids (network, authentication) end the stream with an error.
 */
export async function* fetchBatches<F>(
  source: BlobSource,
  vault: string,
  batches: AsyncIterable<Batch<F>>,
  ahead: number,
): AsyncGenerator<Fetched<F>> {
  type Started = { it: AsyncIterator<Fetched<F>>; first: Promise<IteratorResult<Fetched<F>>> };
  const started: Started[] = [];
  const input = batches[Symbol.asyncIterator]();
  let inputDone = false;
  const fill = async () => {
    while (!inputDone && started.length <= ahead) {
      const r = await input.next();
      if (r.done) {
        inputDone = true;
        break;
      }
      const it = fetchOne(source, vault, r.value);
      const first = it.next();
      first.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled meanwhile
      started.push({ it, first });
    }
  };
  try {
    await fill();
    while (started.length) {
      const { it, first } = started.shift()!;
      let r = await first;
      await fill();
      while (!r.done) {
        yield r.value;
        r = await it.next();
      }
    }
  } finally {
    for (const s of started) await s.it.return?.(undefined).catch(() => undefined);
  }
}

/**
 * The blobs of one batch. When the server refuses it because some ids are unknown, asks which
 * ones, reports those as missing and fetches the rest.
 */
async function* fetchOne<F>(source: BlobSource, vault: string, batch: Batch<F>): AsyncGenerator<Fetched<F>> {
  let index = 0;
  try {
    for await (const blob of source.getBlobs(vault, batch.ids)) {
      if (!batch.ids[index]?.equals(blob.id))
        throw new CairnError(
          'E_CORRUPT',
          'the storage server answered with blobs other than those asked for',
        );
      yield { uses: batch.uses[index]!, id: batch.ids[index]!, sealed: blob.sealed };
      index++;
    }
  } catch (e) {
    // only a refusal before any byte means "some id is unknown"; anything later is a real failure
    if (!isCairnError(e, 'E_NOT_FOUND') || index !== 0) throw e;
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
    if (rest.ids.length) yield* fetchOne(source, vault, rest);
    return;
  }
  if (index !== batch.ids.length)
    throw new CairnError('E_CORRUPT', 'the storage server answered with fewer blobs than asked for');
}

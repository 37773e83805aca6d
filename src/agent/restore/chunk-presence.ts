// The pretreatment's check that the storage server holds every chunk a restore will read. The
// walk hands over each file's chunk ids as it meets them; each id is asked about once (a
// ChunkSet remembers the ids already seen, 32 bytes each, never one object per id), in batches
// of the size one `missing` request allows, so the whole check costs one request per 65,536
// distinct chunks and memory for one batch. Batches go in walk order, so the first missing chunk
// found names the first file (in restore order) that could not be restored.
import { LIMITS } from '../../protocol/data-plane.ts';
import { ChunkSet } from '../backup/chunk-set.ts';

/** What a restore's chunks look like on the storage server. */
export type PresenceReport = {
  /** distinct chunks the restore reads */
  chunks: number;
  /** of those, chunks the storage server does not hold */
  missing: number;
  /** the first file (walk order) that needs a missing chunk */
  firstAffected?: string;
};

export type AskMissing = (ids: Buffer[]) => Promise<Buffer[]>;

export class ChunkPresence {
  readonly #ask: AskMissing;
  readonly #batchSize: number;
  readonly #seen = new ChunkSet();
  /** the batch being filled: ids, and for each the index of its file in #paths */
  #ids: Buffer[] = [];
  #owners: number[] = [];
  #paths: string[] = [];
  #missing = 0;
  #firstAffected: string | undefined;

  /** `ask`: the storage server's answer to "which of these do you lack" (StorageClient.missing). */
  constructor(ask: AskMissing, batchSize: number = LIMITS.missingIds) {
    this.#ask = ask;
    this.#batchSize = batchSize;
  }

  /** Notes the chunks of the file at `path` (a display path); asks the server when a batch is full. */
  async add(path: string, ids: readonly Buffer[]): Promise<void> {
    let owner = -1;
    for (const id of ids) {
      if (!this.#seen.add(id)) continue;
      if (owner < 0) owner = this.#paths.push(path) - 1;
      this.#ids.push(id);
      this.#owners.push(owner);
      if (this.#ids.length >= this.#batchSize) {
        await this.#flush();
        owner = this.#paths.push(path) - 1;
      }
    }
  }

  /** Asks about the last batch and reports. */
  async finish(): Promise<PresenceReport> {
    await this.#flush();
    return { chunks: this.#seen.size, missing: this.#missing, firstAffected: this.#firstAffected };
  }

  async #flush(): Promise<void> {
    if (this.#ids.length === 0) return;
    const ids = this.#ids;
    const owners = this.#owners;
    const paths = this.#paths;
    this.#ids = [];
    this.#owners = [];
    this.#paths = [];
    const missing = await this.#ask(ids);
    this.#missing += missing.length;
    if (missing.length === 0 || this.#firstAffected !== undefined) return;
    // the answer keeps request order: its first id is the batch's earliest missing one
    const first = missing[0]!;
    const at = ids.findIndex((id) => id.equals(first));
    this.#firstAffected = at < 0 ? undefined : paths[owners[at]!];
  }
}

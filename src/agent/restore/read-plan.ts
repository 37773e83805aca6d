// The restore's reads, planned by the pretreatment: the walk hands over each file's chunk ids as
// it meets them; they are grouped exactly as the restorer will group them (ChunkBatcher with the
// restore's limits), and the storage server says where each one lies (`locate`, 65,536 ids a
// request). The plan is then the restore's own: how many `blobs` requests, which packs each one
// reads (the storage server answers a request in pack order, so a pack is read once per request
// that needs it), the sealed bytes that travel, and the packs in the order they are first read.
// An id the server cannot serve (unknown, or its pack file gone) is a missing chunk; the first
// one met names the first file (in restore order) that could not be restored. Memory holds one
// `locate` request's worth of batches and one 32-byte slot per distinct chunk (ChunkSet).
import { byPackOrder, type ChunkPlace, LIMITS } from '../../protocol/data-plane.ts';
import { ChunkSet } from '../backup/chunk-set.ts';
import { type Batch, type BatchLimits, ChunkBatcher, RESTORE_BATCH_LIMITS } from './blob-fetcher.ts';

/** Packs listed by name in the plan (the rest are counted). */
export const MAX_LISTED_PACKS = 100;

export type PackRead = { pack: string; chunks: number; bytes: number };

export type ReadPlan = {
  /** distinct chunks the restore reads */
  chunks: number;
  /** of those, chunks the storage server cannot serve */
  missing: number;
  /** the first file (walk order) that needs a missing chunk */
  firstAffected?: string;
  /** `blobs` requests the restore makes */
  requests: number;
  /** distinct packs read */
  packs: number;
  /** pack visits over all requests: `packs` when every pack is read by one request only */
  packReads: number;
  /** sealed bytes fetched (a chunk needed again in a later request travels again) */
  readBytes: number;
  /** the first MAX_LISTED_PACKS packs in the order they are first read: distinct chunks and sealed bytes taken from each */
  order: PackRead[];
};

export type Locate = (ids: Buffer[]) => Promise<(ChunkPlace | undefined)[]>;

export class ReadPlanner {
  readonly #locate: Locate;
  readonly #locateIds: number;
  readonly #batcher: ChunkBatcher<string>;
  readonly #seen = new ChunkSet();
  /** batches waiting to be located, and the ids they hold */
  #pending: Batch<string>[] = [];
  #pendingIds = 0;
  readonly #packs = new Map<string, PackRead>();
  readonly #plan: ReadPlan = { chunks: 0, missing: 0, requests: 0, packs: 0, packReads: 0, readBytes: 0, order: [] };

  /** `locate`: the storage server's answer (StorageClient.locate). */
  constructor(locate: Locate, limits: BatchLimits = RESTORE_BATCH_LIMITS, locateIds: number = LIMITS.locateIds) {
    this.#locate = locate;
    this.#batcher = new ChunkBatcher(limits);
    this.#locateIds = locateIds;
  }

  /** Notes the chunks of the file at `path` (a display path) of `size` bytes, as the restorer will meet them. */
  async add(path: string, ids: readonly Buffer[], size: number): Promise<void> {
    if (ids.length === 0) return; // the restorer asks nothing for an empty file
    for (const batch of this.#batcher.add(path, ids, size)) await this.#queue(batch);
  }

  async finish(): Promise<ReadPlan> {
    const last = this.#batcher.end();
    if (last) await this.#queue(last);
    await this.#flush();
    this.#plan.chunks = this.#seen.size;
    this.#plan.packs = this.#packs.size;
    return this.#plan;
  }

  async #queue(batch: Batch<string>): Promise<void> {
    if (this.#pendingIds + batch.ids.length > this.#locateIds) await this.#flush();
    this.#pending.push(batch);
    this.#pendingIds += batch.ids.length;
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batches = this.#pending;
    this.#pending = [];
    this.#pendingIds = 0;
    const places = await this.#locate(batches.flatMap((b) => b.ids));
    let at = 0;
    for (const batch of batches) {
      this.#account(batch, places.slice(at, at + batch.ids.length));
      at += batch.ids.length;
    }
  }

  /** One `blobs` request: the packs it reads (in the server's order), its bytes, its missing chunks. */
  #account(batch: Batch<string>, places: (ChunkPlace | undefined)[]): void {
    const plan = this.#plan;
    plan.requests++;
    const order = places.map((_, i) => i).filter((i) => places[i] !== undefined);
    order.sort((a, b) => byPackOrder(places[a]!, places[b]!)); // the order the server answers in
    let previous: string | undefined;
    for (const i of order) {
      const place = places[i]!;
      if (place.pack !== previous) plan.packReads++;
      previous = place.pack;
      plan.readBytes += place.length;
      let pack = this.#packs.get(place.pack);
      if (!pack) {
        pack = { pack: place.pack, chunks: 0, bytes: 0 };
        this.#packs.set(place.pack, pack);
        if (plan.order.length < MAX_LISTED_PACKS) plan.order.push(pack);
      }
      if (this.#seen.add(batch.ids[i]!)) {
        pack.chunks++;
        pack.bytes += place.length;
      }
    }
    // missing ones, in walk order (the batch keeps it): the first names the first file affected
    places.forEach((place, i) => {
      if (place !== undefined || !this.#seen.add(batch.ids[i]!)) return;
      plan.missing++;
      plan.firstAffected ??= batch.uses[i]![0]!.file;
    });
  }
}

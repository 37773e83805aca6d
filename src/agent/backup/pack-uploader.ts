// Gathers sealed blobs into packs (target ~16 MiB) and uploads full packs with a few uploads in
// flight. Producers call waitForRoom() before handing over more: when packs wait for the
// network, the pipeline upstream stops, so memory stays bounded by maxInFlight packs plus
// the one being filled. Packs leave unnamed: the storage server names each by the SHA-256 of its
// bytes as they stream in, so the agent spends no CPU hashing them.
import type { BlobType } from '../../core/blob.ts';
import { freeOwned, spansItsBuffer } from '../../core/free-owned.ts';
import { ENTRY_HEADER_SIZE, PackBuilder, sealedLength } from '../../core/pack.ts';

export type PackUpload = (buffers: Buffer[], size: number) => Promise<void>;

/** Memory that pack entries lie in (seal-ring.ts): pinned by each pack holding one, until it is uploaded. */
export type EntryHolder = { retain(): void; release(): void };

type Pack = { buffers: Buffer[]; size: number; slabs: Buffer[]; holders: Set<EntryHolder> };

export type PackUploaderOptions = { targetSize?: number; maxInFlight?: number; maxBlobs?: number };

export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
/**
 * A pack also closes at this many blobs: the storage server checks an upload's entries as objects
 * (~150 B each) and indexes them in one transaction, so a 16 MiB pack of tiny files' blobs
 * (~180,000 of them) would cost it tens of MB. (The builder keeps no objects per blob.)
 */
export const DEFAULT_PACK_BLOBS = 16_384;

export class PackUploader {
  #upload: PackUpload;
  #targetSize: number;
  #maxBlobs: number;
  #maxInFlight: number;
  #builder = new PackBuilder({ hash: false });
  /** what the pack being filled holds entries in */
  #holders = new Set<EntryHolder>();
  #queued: Pack[] = [];
  #inFlight = 0;
  #roomWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #failure: unknown;
  /** sealed bytes handed over (what this run adds to the vault) */
  bytesNew = 0;
  packs = 0;

  constructor(upload: PackUpload, options: PackUploaderOptions = {}) {
    this.#upload = upload;
    this.#targetSize = options.targetSize ?? DEFAULT_PACK_SIZE;
    this.#maxBlobs = options.maxBlobs ?? DEFAULT_PACK_BLOBS;
    this.#maxInFlight = options.maxInFlight ?? 3;
  }

  /** `sealed`: one buffer, or parts that joined are the blob (sealBlobParts). */
  add(type: BlobType, id: Uint8Array, sealed: Buffer | readonly Buffer[]): void {
    const length = sealedLength(sealed);
    this.#beforeAdd(length);
    this.#builder.add(type, id, sealed);
    this.#afterAdd(length);
  }

  /** One whole pack entry (header and sealed blob) that lies in `holder`'s memory, kept by reference. */
  addEntry(entry: Buffer, holder: EntryHolder): void {
    const length = entry.length - ENTRY_HEADER_SIZE;
    this.#beforeAdd(length);
    this.#builder.addEntry(entry);
    if (!this.#holders.has(holder)) {
      holder.retain();
      this.#holders.add(holder);
    }
    this.#afterAdd(length);
  }

  /** Keeps a pack under the format's ceiling even when a huge blob of `length` sealed bytes arrives. */
  #beforeAdd(length: number): void {
    this.#throwIfFailed();
    if (this.#builder.count > 0 && this.#builder.size + length > this.#targetSize * 2) this.#close();
  }

  /** Counts the blob just added and sends the pack once it is full. */
  #afterAdd(length: number): void {
    this.bytesNew += length;
    if (this.#builder.size >= this.#targetSize || this.#builder.count >= this.#maxBlobs) this.#close();
  }

  /** Resolves when fewer than maxInFlight packs wait for or are in upload. */
  async waitForRoom(): Promise<void> {
    while (this.#queued.length + this.#inFlight >= this.#maxInFlight) {
      this.#throwIfFailed();
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    this.#throwIfFailed();
  }

  /** Closes the pack being filled and waits for every upload; throws the first failure. */
  async flush(): Promise<void> {
    if (this.#builder.count > 0) this.#close();
    while (this.#queued.length + this.#inFlight > 0) {
      this.#throwIfFailed();
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    this.#throwIfFailed();
  }

  #close(): void {
    const { buffers, size, slabs } = this.#builder.finish();
    this.#builder = new PackBuilder({ hash: false });
    this.#queued.push({ buffers, size, slabs, holders: this.#holders });
    this.#holders = new Set();
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queued.length > 0 && this.#failure === undefined) {
      const pack = this.#queued.shift()!;
      this.#inFlight++;
      this.#upload(pack.buffers, pack.size).then(
        () => {
          // The storage server has every byte: free the sealed blobs and the builder's slabs now
          // rather than at the next full collection (a part that is all of its buffer is this
          // pack's alone), and unpin what its entries lie in. A failed upload's stay: the run
          // is over, and nothing may reuse memory a request could still be reading.
          for (const b of pack.buffers) if (spansItsBuffer(b)) freeOwned(b);
          for (const slab of pack.slabs) freeOwned(slab);
          for (const holder of pack.holders) holder.release();
          this.packs++;
          this.#settled();
        },
        (e: unknown) => {
          this.#failure ??= e;
          this.#queued = [];
          this.#settled();
        },
      );
    }
  }

  #settled(): void {
    this.#inFlight--;
    this.#pump();
    for (const wake of this.#roomWaiters.splice(0)) wake();
    if (this.#queued.length + this.#inFlight === 0 || this.#failure !== undefined)
      for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

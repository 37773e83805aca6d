// The CPU-heavy middle of a restore (and of a verify's data check): each sealed blob, as it
// streams in, is authenticated and decrypted (AES-GCM through WebCrypto), decompressed (zstd
// through zlib's asynchronous call) and checked against its id (HMAC through WebCrypto), every
// step in libuv's thread pool (openBlobAsync); the plaintext, a hole (all zeros) or the error goes
// to the chunk's users. No worker isolates: each one cost ~40 MiB of heap and, above all, let
// ~64 MiB of dead buffers wait for its own garbage collector (a restore's peak RSS went from
// 370–400 MiB to 230–250 MiB without them; docs/performance.md). Memory is bounded by the
// sealed bytes being opened, how many blobs are open at once, and the write budget.
import { BLOB_DATA, openBlobAsync } from '../../core/blob.ts';
import type { VaultKeys } from '../../core/keys.ts';
import type { ChunkUse, Fetched } from './blob-fetcher.ts';
import type { ChunkContent, WriteBudget } from './file-writer.ts';

/** Sealed bytes being opened at once. */
const OPENING_BYTES = 16 * 1024 * 1024;
/** Blobs being opened at once per `parallel` (each passes through the pool three times). */
export const BLOBS_PER_THREAD = 4;

type SealedBlob<F> = Extract<Fetched<F>, { sealed: Uint8Array }>;

export class ChunkOpener<F> {
  private readonly keys: VaultKeys;
  private readonly parallel: number;
  private readonly budget: WriteBudget;
  private readonly deliver: (uses: ChunkUse<F>[], content: ChunkContent) => void;

  /** `parallel`: blobs opened at once (at least 1). */
  constructor(
    keys: VaultKeys,
    parallel: number,
    budget: WriteBudget,
    deliver: (uses: ChunkUse<F>[], content: ChunkContent) => void,
  ) {
    this.keys = keys;
    this.parallel = Math.max(1, Math.floor(parallel));
    this.budget = budget;
    this.deliver = deliver;
  }

  /** Opens every fetched blob and delivers it; resolves when all have been delivered. */
  async openAll(blobs: AsyncIterable<Fetched<F>>): Promise<void> {
    let opening = 0;
    let wake: (() => void) | undefined;
    const inFlight = new Set<Promise<void>>();
    for await (const blob of blobs) {
      if ('missing' in blob) {
        this.deliver(blob.uses, { error: blob.missing });
        continue;
      }
      const bytes = blob.sealed.length;
      opening += bytes;
      const p = this.openOne(blob).finally(() => {
        opening -= bytes;
        inFlight.delete(p);
        wake?.();
      });
      inFlight.add(p);
      while (opening > OPENING_BYTES || inFlight.size >= this.parallel) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      await this.budget.room();
    }
    while (inFlight.size) await Promise.all([...inFlight]);
  }

  private async openOne(blob: SealedBlob<F>): Promise<void> {
    let plain: Buffer;
    try {
      plain = await openBlobAsync(this.keys, BLOB_DATA, blob.id, blob.sealed);
    } catch (e) {
      this.deliver(blob.uses, { error: e });
      return;
    }
    this.deliver(blob.uses, isAllZero(plain) ? { data: null, length: plain.length } : { data: plain, length: plain.length });
  }
}

let zeros = Buffer.alloc(0);

/** Almost every data chunk differs from zeros in its first bytes: the compare stops there. */
function isAllZero(b: Buffer): boolean {
  if (b.length > zeros.length) zeros = Buffer.alloc(Math.max(b.length, 4 << 20));
  return b.equals(zeros.subarray(0, b.length));
}

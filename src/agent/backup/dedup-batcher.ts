// Asks the storage server which chunk ids it lacks, coalescing the questions of many callers
// into few requests. Batching adapts to the round trip instead of waiting on a timer: the first
// question goes out at once (next turn of the event loop, so callers of the same turn share
// it); while requests are in flight, new questions gather and leave together when one returns.
import { CairnError } from '../../core/errors.ts';

type Waiter = { ids: Buffer[]; resolve: (missing: boolean[]) => void; reject: (e: unknown) => void };

/** The server accepts at most this many ids per request (protocol limit). */
export const MAX_IDS_PER_QUERY = 65_536;

export class DedupBatcher {
  #query: (ids: Buffer[]) => Promise<Buffer[]>;
  #maxInFlight: number;
  #waiting: Waiter[] = [];
  #inFlight = 0;
  #scheduled = false;
  queries = 0;

  constructor(query: (ids: Buffer[]) => Promise<Buffer[]>, options: { maxInFlight?: number } = {}) {
    this.#query = query;
    this.#maxInFlight = options.maxInFlight ?? 2;
  }

  /** For each id, whether the storage server does not have it. */
  missing(ids: Buffer[]): Promise<boolean[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ ids, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#send();
    });
  }

  #send(): void {
    // Take whole waiters up to the per-request limit (a single oversized caller is split below).
    const batch: Waiter[] = [];
    let count = 0;
    while (
      this.#waiting.length > 0 &&
      (count === 0 || count + this.#waiting[0]!.ids.length <= MAX_IDS_PER_QUERY)
    ) {
      const w = this.#waiting.shift()!;
      batch.push(w);
      count += w.ids.length;
    }
    if (batch.length === 0) return;
    this.#inFlight++;
    this.queries++;
    const ids = batch.flatMap((w) => w.ids);
    void this.#ask(ids)
      .then(
        (missing) => {
          let at = 0;
          for (const w of batch) {
            w.resolve(w.ids.map(() => missing.has(ids[at++]!.toString('latin1'))));
          }
        },
        (e) => {
          for (const w of batch) w.reject(e);
        },
      )
      .finally(() => {
        this.#inFlight--;
        this.#schedule();
      });
    this.#schedule();
  }

  async #ask(ids: Buffer[]): Promise<Set<string>> {
    const missing = new Set<string>();
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_QUERY) {
      const part = ids.slice(i, i + MAX_IDS_PER_QUERY);
      const answer = await this.#query(part);
      for (const id of answer) {
        if (id.length !== 32) throw new CairnError('E_CORRUPT', 'storage answered a malformed chunk id');
        missing.add(id.toString('latin1'));
      }
    }
    return missing;
  }
}

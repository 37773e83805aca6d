// Two small coordination tools of a vault, both in memory (a crash ends every request and every gc):
// - PackPins counts the reads in flight on each pack, so a pack a gc retired is unlinked only
//   after the reads that found it in the index have ended (a later lookup no longer finds it);
// - CommitGate lets snapshot commits run together (shared) but never during a gc's final
//   listing of snapshots and its sweep (exclusive): a commit either lands before the listing,
//   and its refs are marked, or after the sweep, and checks its refs against the swept index.

export class PackPins {
  readonly #count = new Map<string, number>();
  readonly #waiters = new Map<string, (() => void)[]>();

  /** Pins every pack of `packs` (call in the same tick as the index lookup that found them); answers the release. */
  hold(packs: Iterable<string>): () => void {
    const held = [...new Set(packs)];
    for (const p of held) this.#count.set(p, (this.#count.get(p) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const p of held) {
        const n = this.#count.get(p)! - 1;
        if (n > 0) {
          this.#count.set(p, n);
          continue;
        }
        this.#count.delete(p);
        for (const wake of this.#waiters.get(p) ?? []) wake();
        this.#waiters.delete(p);
      }
    };
  }

  /** Resolves once no read holds `pack`. */
  idle(pack: string): Promise<void> {
    if (!this.#count.has(pack)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiters.get(pack) ?? [];
      list.push(resolve);
      this.#waiters.set(pack, list);
    });
  }
}

export class CommitGate {
  #shared = 0;
  #exclusive: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  async shared(): Promise<() => void> {
    while (this.#exclusive) await this.#exclusive;
    this.#shared++;
    return () => {
      if (--this.#shared === 0) this.#drained?.();
    };
  }

  /** Waits for the commits in progress, holds new ones back until released. One holder at a time. */
  async exclusive(): Promise<() => void> {
    while (this.#exclusive) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((resolve) => (release = resolve));
    while (this.#shared > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    this.#drained = undefined;
    return () => {
      this.#exclusive = undefined;
      release();
    };
  }
}

// The restore's bookkeeping of hard links. A snapshot keeps a multiply linked file's content
// under its first name and a `hardlink` entry (naming that first name) for every other one. A
// later name is linked to wherever the first one was restored (perhaps a renamed path); if the
// first name is still being written, the link waits for it; if it was kept as it was (`skip`)
// or is damaged, the later names are reported instead of being linked to something else.
import { CairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import type { Placed } from './dir-handles.ts';
import { writeHardlink } from './entry-placing.ts';
import { childPath, hardlinkTargetNames } from './path-guard.ts';

/** A directory being restored, as the links see it: its count of unfinished entries. */
type Dir = { pending: number };

/** What the restorer does for the links: `D` is its directory state. */
export type LinkHost<D extends Dir> = {
  /** runs the making of one entry of `dir` (its directory completes after it) */
  settle(dir: D, path: Buffer, make: () => Promise<void>): void;
  /** one child of `dir` is complete */
  release(dir: D): void;
  damaged(path: Buffer, e: unknown): void;
  warn(path: Buffer, reason: string): void;
  /** the path as it was in the backup */
  show(path: Buffer): string;
};

type Waiter<D extends Dir> = { dir: D; at: Placed; path: Buffer };

export class HardLinks<D extends Dir> {
  readonly #host: LinkHost<D>;
  readonly #root: Buffer;
  /** first names restored: path without conflict (latin1) → where they were put */
  readonly #placed = new Map<string, Placed>();
  /** first names kept as they were (`skip`): their later names are left out too */
  readonly #skipped = new Set<string>();
  readonly #waiting = new Map<string, Waiter<D>[]>();

  constructor(host: LinkHost<D>, root: Buffer) {
    this.#host = host;
    this.#root = root;
  }

  /** An entry left out by the `skip` policy; the later names of a skipped linked file follow it. */
  skipped(path: Buffer, node: TreeNode): void {
    if (node.type === 'file' && node.nlink > 1) this.#skipped.add(path.toString('latin1'));
  }

  /** A later name (`node` of type hardlink) to make `at` (`path` for messages) in `dir`. */
  place(dir: D, at: Placed, path: Buffer, node: TreeNode): void {
    let first = this.#root;
    try {
      if (!node.target) throw new CairnError('E_CORRUPT', 'hard link without a target');
      for (const name of hardlinkTargetNames(node.target)) first = childPath(first, name);
    } catch (e) {
      this.#host.damaged(path, e);
      return;
    }
    const key = first.toString('latin1');
    const placed = this.#placed.get(key);
    if (placed) {
      this.#host.settle(dir, path, () => writeHardlink(at, placed));
      return;
    }
    if (this.#skipped.has(key)) {
      this.#host.warn(path, `hard link not restored: its first name ${this.#host.show(first)} was kept as it was (skip)`);
      return;
    }
    // the first name is still being written: link once it is in place
    dir.pending++;
    const waiters = this.#waiting.get(key) ?? [];
    waiters.push({ dir, at, path });
    this.#waiting.set(key, waiters);
  }

  /** The first name `original` (as the snapshot has it) was restored `at`: its waiting links are made. */
  firstDone(original: Buffer, at: Placed): void {
    const key = original.toString('latin1');
    this.#placed.set(key, at);
    const waiters = this.#waiting.get(key);
    if (!waiters) return;
    this.#waiting.delete(key);
    for (const w of waiters) {
      // the waiter already counts in its directory: settle adds one more, released here
      this.#host.settle(w.dir, w.path, () => writeHardlink(w.at, at));
      this.#host.release(w.dir);
    }
  }

  /** The first name `original` could not be restored (at `path`): its waiting links are damaged. */
  firstFailed(original: Buffer, path: Buffer): void {
    const key = original.toString('latin1');
    const waiters = this.#waiting.get(key);
    if (!waiters) return;
    this.#waiting.delete(key);
    for (const w of waiters) this.#fail(w, `its first name ${this.#host.show(path)} is damaged`);
  }

  /** The walk is over: links still waiting name a first name that was never restored. */
  failWaiting(): void {
    for (const [key, waiters] of this.#waiting)
      for (const w of waiters) this.#fail(w, `its first name ${this.#host.show(Buffer.from(key, 'latin1'))} was not restored`);
    this.#waiting.clear();
  }

  #fail(w: Waiter<D>, why: string): void {
    this.#host.damaged(w.path, new CairnError('E_NOT_FOUND', `hard link not restored: ${why}`));
    this.#host.release(w.dir);
  }
}

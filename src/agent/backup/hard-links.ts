// The walk's hard-link bookkeeping: the first path of each multiply-linked file, kept only until
// all `nlink` names were walked (a tree of linked pairs costs nothing once both are seen). What
// stays (names outside the backed-up paths, or not reached yet) is capped at `max` inodes: a
// further multiply-linked file is stored as a plain file (its content still dedups to the same
// chunks; only the link is not recorded), and the run says so once.
import { testCount } from '../../core/test-settings.ts';
import { displayPath, type WarningSink } from '../scan.ts';

/** inodes awaiting more names (~250 bytes each: ~25 MB at most); CAIRN_TEST_HARDLINKS_MAX lowers it */
const HARDLINKS_MAX = 100_000;

type Pending = { first: Buffer; left: number };

export class HardLinks {
  readonly #pending = new Map<string, Pending>();
  readonly #warnings: WarningSink;
  readonly #max: number;
  #warned = false;

  constructor(warnings: WarningSink, max = testCount('HARDLINKS_MAX', HARDLINKS_MAX)) {
    this.#warnings = warnings;
    this.#max = max;
  }

  /** inodes still waiting for names */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * A multiply-linked file met at `path` (absolute, as bytes): the path relative to '/' of its
   * first name when that was walked (this one is stored as a link to it), else undefined.
   */
  see(stat: { dev: bigint; ino: bigint; nlink: bigint }, path: Buffer): Buffer | undefined {
    const key = `${stat.dev}:${stat.ino}`;
    const known = this.#pending.get(key);
    if (known) {
      if (--known.left <= 0) this.#pending.delete(key);
      return known.first;
    }
    if (this.#pending.size >= this.#max) {
      if (!this.#warned) {
        this.#warned = true;
        this.#warnings.push({
          path: displayPath(path),
          reason: `more than ${this.#max} hard-linked files wait for their other names: this one and further ones are stored as separate files (same content, stored once)`,
        });
      }
      return undefined;
    }
    this.#pending.set(key, { first: Buffer.from(path.subarray(1)), left: Number(stat.nlink) - 1 });
    return undefined;
  }
}

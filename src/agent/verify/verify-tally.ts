// What every verify level works from (VerifyInput), and what a verify has found so far: files
// and bytes checked, chunks checked, and the damaged entries with their reasons (each path once:
// its first problem is its reason). The list is bounded so the answer fits a control frame
// however much is damaged; past the bound only a count is kept, and the last entry says how
// many more there were.
import type { VaultKeys } from '../../core/keys.ts';
import type { SnapshotRecord } from '../../core/snapshot.ts';
import type { TreeNode } from '../../core/tree.ts';
import type { ProgressData, VerifyResult, Warning } from '../../protocol/control.ts';
import { displayPath } from '../restore/path-guard.ts';
import type { StorageClient } from '../storage-client.ts';

export const MAX_LISTED_DAMAGED = 10_000;
const PROGRESS_EVERY_MS = 250;

/** What every verify level works from. */
export type VerifyInput = {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  snapshot: SnapshotRecord;
  tally: VerifyTally;
  signal?: AbortSignal;
  /** worker threads opening chunks; default one per CPU */
  workers?: number;
};

export class VerifyTally {
  files = 0;
  bytes = 0;
  chunks = 0;
  readonly warnings: Warning[] = [];
  readonly #damaged: Warning[] = [];
  readonly #seen = new Set<string>();
  #unlisted = 0;
  readonly #progress: (p: ProgressData) => void;
  #lastProgress = -Infinity;

  constructor(progress: (p: ProgressData) => void = () => undefined) {
    this.#progress = progress;
  }

  get damagedCount(): number {
    return this.#seen.size + this.#unlisted;
  }

  /** Records `path` as damaged, unless it is already (its first reason stands). */
  damage(path: Buffer, reason: string): void {
    const key = path.toString('latin1');
    if (this.#seen.has(key)) return;
    if (this.#damaged.length >= MAX_LISTED_DAMAGED) {
      this.#unlisted++;
      return;
    }
    this.#seen.add(key);
    this.#damaged.push({ path: displayPath(path), reason });
  }

  /**
   * One regular file checked (whatever the outcome). A hard link's later names count as files
   * without bytes, as the backup counts them, so `files` and `bytes` match the snapshot's.
   */
  checked(path: Buffer, node: TreeNode): void {
    this.files++;
    if (node.type === 'file') this.bytes += node.size;
    const now = performance.now();
    if (now - this.#lastProgress < PROGRESS_EVERY_MS) return;
    this.#lastProgress = now;
    this.#progress({ files: this.files, bytes: this.bytes, currentPath: displayPath(path) });
  }

  result(): VerifyResult {
    const damaged = [...this.#damaged];
    if (this.#unlisted > 0) damaged.push({ path: '…', reason: `${this.#unlisted} more damaged entries not listed` });
    return { files: this.files, bytes: this.bytes, chunks: this.chunks, damaged, warnings: this.warnings };
  }
}

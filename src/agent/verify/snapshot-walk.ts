// Walking a snapshot's trees for a verify: depth first from the root tree (which stands for
// '/'), one directory's entries in memory per level plus the sibling trees loaded ahead
// (restore/subtree-loader.ts). A tree that cannot be had (missing, failing its check, naming an
// unsafe entry) damages its whole subtree: it is reported once with its directory's path and
// not descended into; the walk goes on with its siblings.
import { isCairnError } from '../../core/errors.ts';
import type { VaultKeys } from '../../core/keys.ts';
import type { SnapshotRecord } from '../../core/snapshot.ts';
import type { TreeNode } from '../../core/tree.ts';
import { childPath } from '../restore/path-guard.ts';
import { siblingTrees } from '../restore/subtree-loader.ts';
import type { StorageClient } from '../storage-client.ts';
import { type LoadTrees, treeLoader } from '../tree-store.ts';

/** One entry of the snapshot; a consumer sets `skip` on a directory it does not want walked. */
export type WalkedEntry = { path: Buffer; node: TreeNode; skip?: boolean };

export type WalkOptions = {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  snapshot: SnapshotRecord;
  signal?: AbortSignal;
  /** a directory whose tree could not be had, and why: nothing below it was checked */
  onDamagedTree: (path: Buffer, reason: string) => void;
  /** a directory's entries once its tree is loaded, before any of them is yielded ('/' has no node) */
  onDirectory?: (path: Buffer, nodes: TreeNode[]) => void | Promise<void>;
};

const ROOT = Buffer.from('/');

/** First 8 hex digits of a chunk id, as reports name chunks. */
export function shortId(id: Buffer): string {
  return id.toString('hex').slice(0, 8);
}

export class SnapshotWalker {
  readonly #o: WalkOptions;
  /** tree chunks read and checked so far */
  treeChunks = 0;

  constructor(o: WalkOptions) {
    this.#o = o;
    this.#load = treeLoader(o.client, o.vault, o.keys);
  }

  readonly #load: LoadTrees;

  /** Every entry of the snapshot, parents before their children. */
  async *entries(): AsyncGenerator<WalkedEntry> {
    const ids = this.#o.snapshot.tree.map((hex) => Buffer.from(hex, 'hex'));
    const root = this.#load([ids]).then(([t]) => t!);
    root.catch(() => undefined); // awaited in #walk
    yield* this.#walk(ROOT, ids, root);
  }

  async *#walk(path: Buffer, ids: Buffer[], tree: Promise<TreeNode[]>): AsyncGenerator<WalkedEntry> {
    let nodes: TreeNode[];
    try {
      nodes = await tree;
    } catch (e) {
      await this.#damagedTree(path, ids, e);
      return;
    }
    this.treeChunks += ids.length;
    await this.#o.onDirectory?.(path, nodes);
    const subdirs = nodes.filter((n) => n.type === 'dir');
    const subtrees = siblingTrees(
      subdirs.map((n) => n.subtree ?? []),
      this.#load,
    );
    let subdirIndex = 0;
    for (const node of nodes) {
      this.#o.signal?.throwIfAborted();
      const subtree = node.type === 'dir' ? subtrees.get(subdirIndex++) : undefined;
      subtree?.catch(() => undefined); // awaited below, unless the consumer skips the directory
      let entry: WalkedEntry;
      try {
        entry = { path: childPath(path, node.name), node };
      } catch (e) {
        // decodeTree refuses such names already; this is the second line of defence
        this.#o.onDamagedTree(Buffer.concat([path, Buffer.from('/'), node.name]), (e as Error).message);
        continue;
      }
      yield entry;
      if (subtree && !entry.skip) yield* this.#walk(entry.path, node.subtree ?? [], subtree);
    }
  }

  /** Reports an unreadable tree with the most precise reason at hand; other failures end the walk. */
  async #damagedTree(path: Buffer, ids: Buffer[], e: unknown): Promise<void> {
    if (!isCairnError(e, 'E_CORRUPT') && !isCairnError(e, 'E_UNSAFE_PATH') && !isCairnError(e, 'E_NOT_FOUND')) throw e;
    let reason = `directory not checked: its tree is unreadable (${e.message})`;
    if (e.code === 'E_NOT_FOUND') {
      const missing = await this.#o.client.missing(this.#o.vault, ids);
      if (missing[0]) reason = `directory not checked: tree chunk ${shortId(missing[0])} missing from the storage server`;
    }
    this.#o.onDamagedTree(path, reason);
  }
}

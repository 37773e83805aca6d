// Reading trees back from a vault: fetch a tree's chunks (one batched blobs request for many
// trees at once), open and check each, join them and decode. Used by backup (the reference
// snapshot's directories, along the way) and by restore.
import { BLOB_TREE, openBlob } from '../core/blob.ts';
import { CairnError } from '../core/errors.ts';
import type { VaultKeys } from '../core/keys.ts';
import { decodeTree, type TreeNode } from '../core/tree.ts';
import type { StorageClient } from './storage-client.ts';

/** The nodes of the tree whose chunk ids are `ids`. */
export async function loadTree(
  client: StorageClient,
  vault: string,
  keys: VaultKeys,
  ids: Buffer[],
): Promise<TreeNode[]> {
  const [nodes] = await loadTrees(client, vault, keys, [ids]);
  return nodes!;
}

/** Loads trees (each a list of chunk ids), checked: one call, one request. */
export type LoadTrees = (trees: Buffer[][]) => Promise<TreeNode[][]>;

/** loadTrees bound to one vault: what the walks that take a LoadTrees are given. */
export function treeLoader(client: StorageClient, vault: string, keys: VaultKeys): LoadTrees {
  return (trees) => loadTrees(client, vault, keys, trees);
}

/** Several trees for the price of one request (ids shared between trees are fetched once). */
export async function loadTrees(
  client: StorageClient,
  vault: string,
  keys: VaultKeys,
  trees: Buffer[][],
): Promise<TreeNode[][]> {
  const wanted = new Map<string, Buffer>();
  for (const ids of trees) for (const id of ids) wanted.set(id.toString('hex'), id);
  const plain = new Map<string, Buffer>();
  if (wanted.size > 0) {
    for await (const { id, sealed } of client.getBlobs(vault, [...wanted.values()])) {
      plain.set(id.toString('hex'), openBlob(keys, BLOB_TREE, id, sealed));
    }
  }
  return trees.map((ids) => {
    const pieces = ids.map((id) => {
      const p = plain.get(id.toString('hex'));
      if (!p)
        throw new CairnError(
          'E_CORRUPT',
          `tree chunk ${id.toString('hex')} was not returned by the storage server`,
        );
      return p;
    });
    return decodeTree(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
  });
}

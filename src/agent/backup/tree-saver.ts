// Turns one directory's nodes into its tree blobs: canonical encoding, chunked like file data
// (so a huge directory does not make one huge blob and a small change re-stores little), keyed
// ids, then the same dedup path as data. A directory whose nodes all equal the reference
// snapshot's is not even encoded: its tree is the reference tree, recorded without asking the
// storage server anything (this is most of a no-change backup's work).
import { type ChunkerParams, cutPoint } from '../../core/chunker.ts';
import { chunkId, type VaultKeys } from '../../core/keys.ts';
import { encodeTree, type TreeNode, type Xattr } from '../../core/tree.ts';
import type { BlobSealer } from './blob-sealer.ts';

export class TreeSaver {
  #keys: VaultKeys;
  #chunker: ChunkerParams;
  #gear: Int32Array;
  #sealer: BlobSealer;
  trees = 0;

  constructor(d: { keys: VaultKeys; chunker: ChunkerParams; gear: Int32Array; sealer: BlobSealer }) {
    this.#keys = d.keys;
    this.#chunker = d.chunker;
    this.#gear = d.gear;
    this.#sealer = d.sealer;
  }

  /**
   * The chunk ids of the directory's tree. `previous` and `previousNodes` are the reference
   * snapshot's tree ids and nodes for the same directory, if any.
   */
  save(nodes: TreeNode[], previous?: Buffer[], previousNodes?: TreeNode[]): Buffer[] {
    this.trees++;
    if (previous && previousNodes && sameNodes(nodes, previousNodes)) {
      this.#sealer.markPresent(previous);
      return previous;
    }
    const { ids, pieces } = chunkTree(this.#keys, this.#chunker, this.#gear, encodeTree(nodes));
    if (sameIds(ids, previous)) this.#sealer.markPresent(ids);
    else this.#sealer.submitTree(ids, pieces);
    return ids;
  }
}

export function chunkTree(
  keys: VaultKeys,
  chunker: ChunkerParams,
  gear: Int32Array,
  bytes: Buffer,
): { ids: Buffer[]; pieces: Buffer[] } {
  const ids: Buffer[] = [];
  const pieces: Buffer[] = [];
  let start = 0;
  do {
    // The whole tree is in memory: cutPoint sees the true end, every cut is final.
    const length = cutPoint(chunker, gear, bytes, start, bytes.length);
    const piece = bytes.subarray(start, start + length);
    pieces.push(piece);
    ids.push(chunkId(keys, piece));
    start += length;
  } while (start < bytes.length);
  return { ids, pieces };
}

function sameIds(a: Buffer[] | undefined, b: Buffer[] | undefined): boolean {
  if (a === b) return true; // reused chunk lists are the reference's own array
  if (!a || !b) return false;
  return a.length === b.length && a.every((id, i) => id.equals(b[i]!));
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

/** Attribute lists as encoded: absent and empty are the same (both lists sorted by name). */
function sameXattrs(a: Xattr[] | undefined, b: Xattr[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((attr, i) => attr.name.equals(y[i]!.name) && attr.value.equals(y[i]!.value));
}

/** Every field the encoding holds, so equal nodes mean equal tree bytes (both lists are sorted by name). */
export function sameNodes(a: TreeNode[], b: TreeNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.type !== y.type ||
      x.mode !== y.mode ||
      x.uid !== y.uid ||
      x.gid !== y.gid ||
      x.mtimeNs !== y.mtimeNs ||
      x.ctimeNs !== y.ctimeNs ||
      x.size !== y.size ||
      x.inode !== y.inode ||
      x.nlink !== y.nlink ||
      x.rdev !== y.rdev ||
      !x.name.equals(y.name) ||
      !sameIds(x.chunks, y.chunks) ||
      !sameIds(x.subtree, y.subtree) ||
      !sameBytes(x.target, y.target) ||
      !sameXattrs(x.xattrs, y.xattrs)
    )
      return false;
  }
  return true;
}

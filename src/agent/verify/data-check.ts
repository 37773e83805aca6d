// Verify at level `data`: every chunk the snapshot references is read back from the storage
// server, authenticated, decrypted, decompressed and re-hashed against its id — the restore's
// own pipeline (blob-fetcher.ts batches the ids, chunk-fetchers.ts has worker threads fetch and
// open them, checking id = HMAC(plaintext)) with nothing written. A file is damaged
// when any of its chunks is missing or fails its check; a tree that fails damages its subtree.
// Memory is what the restore pipeline bounds: the batches at the workers and their credit.
import os from 'node:os';
import { isCairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import { batchChunks, type ChunkUse, RESTORE_BATCH_LIMITS } from '../restore/blob-fetcher.ts';
import { ChunkFetchers } from '../restore/chunk-fetchers.ts';
import { type ChunkContent, WriteBudget } from '../restore/file-writer.ts';
import { shortId, SnapshotWalker } from './snapshot-walk.ts';
import type { VerifyInput } from './verify-tally.ts';

/** A file being checked: chunks still to come back, and the first failure among them. */
type FileCheck = { path: Buffer; node: TreeNode; left: number; failure?: string };

function failureOf(node: TreeNode, index: number, e: unknown): string {
  const id = node.chunks?.[index];
  const chunk = id ? `chunk ${shortId(id)}` : `chunk ${index}`;
  if (isCairnError(e, 'E_NOT_FOUND')) return `${chunk} missing from the storage server`;
  const why = isCairnError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  return `${chunk} fails its check (${why})`;
}

async function* filesToRead(walker: SnapshotWalker, input: VerifyInput): AsyncGenerator<FileCheck> {
  for await (const { path, node } of walker.entries()) {
    if (node.type === 'hardlink') input.tally.checked(path, node); // its data is its first name's
    if (node.type !== 'file') continue;
    const left = (node.chunks ?? []).length;
    if (left === 0) input.tally.checked(path, node);
    else yield { path, node, left };
  }
}

export async function checkData(input: VerifyInput): Promise<void> {
  const { tally } = input;
  const walker = new SnapshotWalker({ ...input, onDamagedTree: (path, reason) => tally.damage(path, reason) });
  const deliver = (uses: ChunkUse<FileCheck>[], content: ChunkContent) => {
    tally.chunks++;
    for (const { file, index } of uses) {
      if ('error' in content) file.failure ??= failureOf(file.node, index, content.error);
      if (--file.left > 0) continue;
      tally.checked(file.path, file.node);
      if (file.failure !== undefined) tally.damage(file.path, file.failure);
    }
  };
  // nothing is written: the budget only satisfies the interface and never fills; no plaintext comes back
  const fetchers = new ChunkFetchers<FileCheck>({
    client: input.client,
    vault: input.vault,
    keys: input.keys,
    workers: input.workers ?? os.availableParallelism(),
    budget: new WriteBudget(1),
    deliver,
    wantData: false,
  });
  try {
    const batches = batchChunks(
      filesToRead(walker, input),
      (file) => ({ ids: file.node.chunks ?? [], size: file.node.size }),
      RESTORE_BATCH_LIMITS,
    );
    await fetchers.openAll(batches);
  } finally {
    await fetchers.close();
  }
  tally.chunks += walker.treeChunks;
}

// Verify at level `catalog`: every chunk the snapshot references is known to the storage server.
// The trees are read on the way (the walk needs them, so tree chunks are checked for real); the
// files' chunk ids go to the storage server in batches (`missing`, one request per 65,536 ids,
// ids repeated inside a batch asked once), and each file with a chunk the server lacks is
// damaged. No file data is read.
import { LIMITS } from '../../protocol/data-plane.ts';
import { batchChunks } from '../restore/blob-fetcher.ts';
import { shortId, SnapshotWalker, type WalkedEntry } from './snapshot-walk.ts';
import type { VerifyInput } from './verify-tally.ts';

async function* regularFiles(walker: SnapshotWalker, input: VerifyInput): AsyncGenerator<WalkedEntry> {
  for await (const entry of walker.entries()) {
    if (entry.node.type === 'hardlink') input.tally.checked(entry.path, entry.node);
    if (entry.node.type !== 'file') continue;
    input.tally.checked(entry.path, entry.node);
    if ((entry.node.chunks ?? []).length > 0) yield entry;
  }
}

export async function checkCatalog(input: VerifyInput): Promise<void> {
  const { client, vault, tally } = input;
  const walker = new SnapshotWalker({ ...input, onDamagedTree: (path, reason) => tally.damage(path, reason) });
  const batches = batchChunks(
    regularFiles(walker, input),
    (entry) => ({ ids: entry.node.chunks ?? [], size: 0 }),
    { maxIds: LIMITS.missingIds, maxBytes: Infinity },
  );
  for await (const batch of batches) {
    input.signal?.throwIfAborted();
    const missing = await client.missing(vault, batch.ids);
    tally.chunks += batch.ids.length;
    if (missing.length === 0) continue;
    const lacking = new Set(missing.map((id) => id.toString('latin1')));
    batch.ids.forEach((id, i) => {
      if (!lacking.has(id.toString('latin1'))) return;
      for (const { file } of batch.uses[i]!) tally.damage(file.path, `chunk ${shortId(id)} missing from the storage server`);
    });
  }
  tally.chunks += walker.treeChunks;
}

// Pack upload into a vault: the body streams into a temp file while it is hashed and its
// structure checked (PackVerifier), so a pack is never held in memory. Only a pack whose
// SHA-256 equals its name and whose structure is sound is made durable (fsync, rename into
// packs/<aa>/<name>, fsync dir) and then indexed in one transaction. Anything else leaves the
// vault exactly as it was. Chunks it carries whose indexed copy lies in a lost pack file move to it.
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { PackVerifier } from '../core/pack.ts';
import { LIMITS } from '../protocol/data-plane.ts';
import { renameDurable, TempFileSink, tempPath } from '../core/durable-fs.ts';
import { consumeBody } from './http-io.ts';
import type { Vault } from './vault-store.ts';
import { lostCopies, lostPacks } from './chunk-lookup.ts';
import { now } from '../core/test-settings.ts';

/** Whether the vault holds pack `name`: indexed, and its file there (a lost one is taken again). */
export async function packStored(vault: Vault, name: string): Promise<boolean> {
  return vault.index.hasPack(name) && (await lostPacks(vault, [name])).size === 0;
}

/** Stores the pack run `run` uploaded; resolves false when the vault already had it (nothing written). */
export async function ingestPack(vault: Vault, name: string, req: IncomingMessage, run: string): Promise<boolean> {
  if (await packStored(vault, name)) return false;
  const sink = new TempFileSink(tempPath(vault.tmpDir, name));
  const verifier = new PackVerifier({ maxSize: LIMITS.packBytes });
  try {
    await consumeBody(req, (chunk) => {
      verifier.update(chunk);
      return sink.write(chunk);
    });
    const { name: actual, size, entries } = verifier.end();
    if (actual !== name) throw new CairnError('E_CORRUPT', `pack bytes hash to ${actual}, not to their name ${name}`);
    await sink.finish();
    const repoint = await lostCopies(vault, entries);
    await renameDurable(sink.path, vault.packPath(name));
    try {
      vault.index.addPack(name, size, entries, repoint);
      // in the same tick: a gc's sweep spares what a running backup just stored (its snapshot comes later)
      vault.gcIndex.vouch(run, entries.map((e) => e.id), now());
    } catch (e) {
      // not indexed (a full disk, say): the pack goes too, freeing its room; its chunks are still
      // missing, so the agent sends them again. A crash here instead leaves it for pack recovery.
      // (Unless the same pack, uploaded twice at once, was indexed by the other upload.)
      if (!vault.index.hasPack(name)) await rm(vault.packPath(name), { force: true });
      throw e;
    }
    return true;
  } catch (e) {
    await sink.abort();
    throw fromSystemError(e, `storing pack ${name}`);
  }
}

// Pack upload into a vault: the body streams into a temp file (written past the page cache:
// direct-file-sink.ts) while it is hashed and its structure checked (PackVerifier), so a pack is
// never held in memory. A pack is named by its SHA-256: an uploader that names it (PUT) must have
// it right; one that does not (POST, so the agent spends no CPU hashing) gets the name from here.
// Only a pack whose structure is sound is made durable (fsync, rename into packs/<aa>/<name>,
// fsync dir) and then indexed in one transaction. Anything else leaves the vault exactly as it
// was. Chunks it carries whose indexed copy lies in a lost pack file move to it.
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { PackVerifier } from '../core/pack-verifier.ts';
import { LIMITS } from '../protocol/data-plane.ts';
import { renameDurable, tempPath } from '../core/durable-fs.ts';
import { DirectFileSink } from './direct-file-sink.ts';
import { spansItsBuffer } from '../core/free-owned.ts';
import { consumeBody } from './http-io.ts';
import type { Vault } from './vault-store.ts';
import { lostCopies, lostPacks } from './chunk-lookup.ts';
import { now } from '../core/test-settings.ts';

/** Whether the vault holds pack `name`: indexed, and its file there (a lost one is taken again). */
export async function packStored(vault: Vault, name: string): Promise<boolean> {
  return vault.index.hasPack(name) && (await lostPacks(vault, [name])).size === 0;
}

/**
 * Stores the pack run `run` uploaded. `expected` is the name the uploader gave (PUT): the bytes
 * must hash to it. Without one (POST) the pack is named here by its SHA-256. Resolves the name and
 * false when the vault already had that pack (nothing written).
 */
export async function ingestPack(
  vault: Vault,
  expected: string | undefined,
  req: IncomingMessage,
  run: string,
): Promise<{ name: string; stored: boolean }> {
  if (expected !== undefined && (await packStored(vault, expected))) return { name: expected, stored: false };
  const sink = new DirectFileSink(tempPath(vault.tmpDir, expected ?? 'pack'));
  const verifier = new PackVerifier({ maxSize: LIMITS.packBytes });
  let name = expected ?? '(unnamed)';
  try {
    await consumeBody(req, (chunk) => {
      verifier.update(chunk); // (copies the little it keeps)
      // Node's HTTP parser copies each body piece into a buffer of its own, which only this
      // upload holds: the sink copies it into its staging buffer and frees it at once
      return sink.write(chunk, spansItsBuffer(chunk));
    });
    const { name: actual, size, entries } = verifier.end();
    if (expected !== undefined && actual !== expected)
      throw new CairnError('E_CORRUPT', `pack bytes hash to ${actual}, not to their name ${expected}`);
    name = actual;
    if (expected === undefined && (await packStored(vault, name))) {
      await sink.abort();
      return { name, stored: false };
    }
    await sink.finish();
    const repoint = await lostCopies(vault, entries);
    await renameDurable(sink.path, vault.packPath(name));
    try {
      // in the same transaction: a gc's sweep spares what a running backup just stored (its snapshot comes later)
      let vouched = () => {};
      vault.index.addPack(name, size, entries, repoint, () => {
        vouched = vault.gcIndex.vouchInside(run, entries.map((e) => e.id), now());
      });
      vouched();
    } catch (e) {
      // not indexed (a full disk, say): the pack goes too, freeing its room; its chunks are still
      // missing, so the agent sends them again. A crash here instead leaves it for pack recovery.
      // (Unless the same pack, uploaded twice at once, was indexed by the other upload.)
      if (!vault.index.hasPack(name)) await rm(vault.packPath(name), { force: true });
      throw e;
    }
    return { name, stored: true };
  } catch (e) {
    await sink.abort();
    throw fromSystemError(e, `storing pack ${name}`);
  }
}

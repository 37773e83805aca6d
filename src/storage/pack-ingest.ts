// Pack upload into a vault: the body streams into a temp file while it is hashed and its
// structure checked (PackVerifier), so a pack is never held in memory. Only a pack whose
// SHA-256 equals its name and whose structure is sound is made durable (fsync, rename into
// packs/<aa>/<name>, fsync dir) and then indexed in one transaction. Anything else leaves the
// vault exactly as it was.
import type { IncomingMessage } from 'node:http';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { PackVerifier } from '../core/pack.ts';
import { LIMITS } from '../protocol/data-plane.ts';
import { renameDurable, TempFileSink, tempPath } from '../core/durable-fs.ts';
import { consumeBody } from './http-io.ts';
import type { Vault } from './vault-store.ts';

/** Stores the uploaded pack; resolves false when the vault already had it (nothing written). */
export async function ingestPack(vault: Vault, name: string, req: IncomingMessage): Promise<boolean> {
  if (vault.index.hasPack(name)) return false;
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
    await renameDurable(sink.path, vault.packPath(name));
    vault.index.addPack(name, size, entries);
    return true;
  } catch (e) {
    await sink.abort();
    throw fromSystemError(e, `storing pack ${name}`);
  }
}

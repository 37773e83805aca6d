// Crash recovery for packs: a pack is renamed into packs/<aa>/ (durable) before its blobs are
// indexed, so a crash between the two leaves a complete pack the index does not know. When a
// vault opens, such packs are verified (SHA-256 equals the name, structure sound) and indexed,
// so the next backup finds their chunks instead of sending them again. A pack that fails the
// check is left where it is, unindexed, for scrub to report. A recovered pack that carries chunks
// whose indexed copy is in a lost pack file takes them over, as its upload would have.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isCairnError } from '../core/errors.ts';
import { PackVerifier } from '../core/pack-verifier.ts';
import { lostCopies } from './chunk-lookup.ts';
import type { Vault } from './vault-store.ts';

const PACK_NAME = /^[0-9a-f]{64}$/;

/** Indexes every sound pack file of the vault that its index lacks; returns their names. */
export async function indexOrphanPacks(vault: Vault): Promise<string[]> {
  const { packsDir, index } = vault;
  const recovered: string[] = [];
  for (const sub of await readdir(packsDir)) {
    for (const name of await readdir(join(packsDir, sub))) {
      if (!PACK_NAME.test(name) || index.hasPack(name)) continue;
      const bytes = await readFile(join(packsDir, sub, name));
      try {
        const verifier = new PackVerifier({ maxSize: Math.max(bytes.length, 1) });
        const { name: actual, size, entries } = verifier.update(bytes).end();
        if (actual !== name) continue; // damaged: scrub reports it
        index.addPack(name, size, entries, await lostCopies(vault, entries));
        recovered.push(name);
      } catch (e) {
        if (!isCairnError(e, 'E_CORRUPT') && !isCairnError(e, 'E_TOO_LARGE')) throw e;
      }
    }
  }
  return recovered;
}

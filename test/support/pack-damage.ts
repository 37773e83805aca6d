// Damaging a storage server's packs on its disk, as bit rot would: the tests of verify (CLI and
// web console) flip bytes inside the data blobs of the packs a backup stored.
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BLOB_DATA } from '../../src/core/blob.ts';
import { parsePack } from '../../src/core/pack-verifier.ts';

/** Every pack file of `vault` on the storage server whose data folder is `storageDir`. */
export function packFiles(storageDir: string, vault: string): Set<string> {
  const dir = join(storageDir, 'vaults', vault, 'packs');
  return new Set(
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((p) => join(dir, p))
      .filter((p) => /[0-9a-f]{64}$/.test(p)),
  );
}

/** Flips one byte in the middle of every data blob of `pack`; answers how many it damaged. */
export function damageDataBlobs(pack: string): number {
  const bytes = readFileSync(pack);
  const data = parsePack(bytes).filter((e) => e.type === BLOB_DATA);
  const fd = openSync(pack, 'r+');
  try {
    for (const e of data) {
      const at = e.offset + Math.floor(e.length / 2);
      writeSync(fd, Buffer.of(bytes[at]! ^ 0x5a), 0, 1, at);
    }
  } finally {
    closeSync(fd);
  }
  return data.length;
}

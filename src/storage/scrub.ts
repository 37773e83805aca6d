// Key-less scrub: re-hashes every pack file of a vault and reports the ones whose SHA-256 no
// longer matches their name, plus indexed packs whose file is gone. Reads one pack at a time.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ScrubReport } from '../protocol/data-plane.ts';
import type { Vault } from './vault-store.ts';

async function hashFile(path: string): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      bytes += chunk.length;
      hash.update(chunk);
    }
  });
  return { hex: hash.digest('hex'), bytes };
}

export async function scrubVault(vault: Vault): Promise<ScrubReport> {
  const report: ScrubReport = { packs: 0, bytes: 0, bad: [] };
  const onDisk = new Set<string>();
  for (const prefix of (await readdir(vault.packsDir)).sort()) {
    const dir = join(vault.packsDir, prefix);
    for (const name of (await readdir(dir)).sort()) {
      onDisk.add(name);
      report.packs++;
      const { hex, bytes } = await hashFile(join(dir, name));
      report.bytes += bytes;
      if (hex !== name || name.slice(0, 2) !== prefix) report.bad.push(name);
    }
  }
  for (const name of vault.index.packNames()) if (!onDisk.has(name)) report.bad.push(name);
  return report;
}

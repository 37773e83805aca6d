// Key-less scrub: re-hashes every file under a vault's packs/ and says which packs are damaged
// and why: content whose SHA-256 is not its name, a file under the wrong prefix directory, a
// name that is no pack name, a file the index lacks that is no sound pack (the vault indexes
// sound unindexed packs when it opens, so one still unindexed is damaged), and an indexed pack
// whose file is gone. Reads one file at a time and changes nothing. Lists the first 1,000
// findings and counts them all.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isCairnError } from '../core/errors.ts';
import { PackVerifier } from '../core/pack-verifier.ts';
import { type DamagedPack, MAX_LISTED_DAMAGE, type ScrubReport } from '../protocol/data-plane.ts';
import type { Vault } from './vault-store.ts';

const PACK_NAME = /^[0-9a-f]{64}$/;

export const SCRUB_REASONS = {
  mismatch: (actual: string) => `content does not match its name (SHA-256 ${actual})`,
  missing: 'indexed but its file is missing',
  wrongPrefix: (prefix: string) => `file lies under the wrong prefix directory (packs/${prefix})`,
  unsound: (why: string) => `not indexed and not a sound pack (${why})`,
  notPackName: 'file name is not a pack name (64 hex digits)',
  strayFile: 'stray file directly under packs/, outside any prefix directory',
  notAFile: 'not a regular file',
} as const;

/** Feeds the file's bytes to `sink` one read at a time; answers how many there were. */
async function readThrough(path: string, sink: (chunk: Buffer) => void): Promise<number> {
  let bytes = 0;
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      bytes += chunk.length;
      sink(chunk);
    }
  });
  return bytes;
}

async function hashFile(path: string): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  const bytes = await readThrough(path, (chunk) => hash.update(chunk));
  return { hex: hash.digest('hex'), bytes };
}

/** Why the pack file is not a sound pack (structure), or undefined when it is one. */
async function unsoundBecause(path: string): Promise<string | undefined> {
  const verifier = new PackVerifier({ maxSize: Number.MAX_SAFE_INTEGER });
  try {
    await readThrough(path, (chunk) => verifier.update(chunk));
    verifier.end();
    return undefined;
  } catch (e) {
    if (isCairnError(e, 'E_CORRUPT') || isCairnError(e, 'E_TOO_LARGE')) return e.message;
    throw e;
  }
}

function isGone(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** What is wrong with the file `name` under packs/`prefix`, or undefined when it is a sound, indexed pack. */
async function judgeFile(vault: Vault, prefix: string, name: string, hex: string): Promise<string | undefined> {
  if (!PACK_NAME.test(name)) return SCRUB_REASONS.notPackName;
  if (hex !== name) return SCRUB_REASONS.mismatch(hex);
  if (name.slice(0, 2) !== prefix) return SCRUB_REASONS.wrongPrefix(prefix);
  // looked up after the hash: a pack stored while it ran is indexed by now
  if (vault.index.hasPack(name)) return undefined;
  const why = await unsoundBecause(join(vault.packsDir, prefix, name));
  // sound but unindexed (a put between its rename and its indexing): not damage
  return why === undefined || vault.index.hasPack(name) ? undefined : SCRUB_REASONS.unsound(why);
}

function byName<T extends { name: string }>(entries: T[]): T[] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function scrubVault(vault: Vault): Promise<ScrubReport> {
  const report: ScrubReport = { packs: 0, bytes: 0, bad: [], damaged: [], damagedTotal: 0 };
  const named = new Set<string>();
  const damage = (d: DamagedPack) => {
    report.damagedTotal++;
    if (report.damaged.length < MAX_LISTED_DAMAGE) report.damaged.push(d);
    if (!named.has(d.pack) && report.bad.length < MAX_LISTED_DAMAGE) {
      report.bad.push(d.pack);
      named.add(d.pack);
    }
  };
  const onDisk = new Set<string>();
  for (const entry of byName(await readdir(vault.packsDir, { withFileTypes: true }))) {
    if (!entry.isDirectory()) {
      damage({ pack: entry.name, reason: SCRUB_REASONS.strayFile });
      continue;
    }
    const prefix = entry.name;
    for (const file of byName(await readdir(join(vault.packsDir, prefix), { withFileTypes: true }))) {
      const name = file.name;
      if (!file.isFile()) {
        damage({ pack: name, reason: SCRUB_REASONS.notAFile });
        continue;
      }
      let hashed: { hex: string; bytes: number };
      try {
        hashed = await hashFile(join(vault.packsDir, prefix, name));
      } catch (e) {
        if (isGone(e)) continue; // gone since the listing: the index check below tells whether that matters
        throw e;
      }
      onDisk.add(name);
      report.packs++;
      report.bytes += hashed.bytes;
      const reason = await judgeFile(vault, prefix, name, hashed.hex);
      if (reason !== undefined) damage({ pack: name, reason });
    }
  }
  for (const name of vault.index.packNames()) if (!onDisk.has(name)) damage({ pack: name, reason: SCRUB_REASONS.missing });
  return report;
}

// Answers about chunks that hold only while their pack file is there: the index says where a
// chunk was stored, the disk whether it still is. A chunk whose pack file is gone (deleted, lost
// to a disk fault) is missing to `missing`, `locate` and `blobs`: a backup then stores it again
// (the new pack takes over its index rows, see pack-ingest.ts), a restore's pretreatment and
// `verify --level catalog` see the loss, and a restore reports the files instead of failing
// halfway through an answer. Each distinct pack is looked at once per request; nothing is cached
// across requests, since a file can vanish at any time.
import { stat } from 'node:fs/promises';
import type { PackEntry } from '../core/pack.ts';
import type { ChunkLocation } from './chunk-index.ts';
import type { Vault } from './vault-store.ts';
import { now } from '../core/test-settings.ts';

/** Of `packs`, the ones whose file is missing from the vault's packs directory. */
export async function lostPacks(vault: Vault, packs: Iterable<string>): Promise<Set<string>> {
  const lost = new Set<string>();
  await Promise.all(
    [...new Set(packs)].map(async (pack) => {
      try {
        await stat(vault.packPath(pack));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        lost.add(pack);
      }
    }),
  );
  return lost;
}

export type FindOptions = {
  /** record the ids found as vouched for by this run (gc spares them): a backup was told it may reuse them */
  vouchFor?: string;
  /** pins the packs found, in the tick of the lookup, so a gc cannot unlink them before they are read */
  hold?: (packs: Set<string>) => void;
};

/** Where each id lies, in request order: undefined when the index lacks it or its pack file is gone. */
export async function findChunks(vault: Vault, ids: readonly Buffer[], options: FindOptions = {}): Promise<(ChunkLocation | undefined)[]> {
  // lookup, vouch and pin in one tick: a gc's sweep (also synchronous) comes wholly before or after
  const found = vault.index.lookup(ids);
  if (options.vouchFor !== undefined) vault.gcIndex.vouch(options.vouchFor, ids.filter((_, i) => found[i] !== undefined), now());
  const packs = new Set<string>();
  for (const loc of found) if (loc) packs.add(loc.pack);
  options.hold?.(packs);
  const lost = await lostPacks(vault, packs);
  if (lost.size === 0) return found;
  return found.map((loc) => (loc && lost.has(loc.pack) ? undefined : loc));
}

/**
 * The ids the vault cannot serve (unknown, or in a lost pack), in request order, each once. The
 * others are vouched for, for run `run`: the backup asking will reuse them, so a gc must spare them.
 */
export async function missingChunks(vault: Vault, ids: readonly Buffer[], run: string): Promise<Buffer[]> {
  const found = await findChunks(vault, ids, { vouchFor: run });
  const answered = new Set<string>();
  const out: Buffer[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (found[i]) continue;
    const key = ids[i]!.toString('latin1');
    if (answered.has(key)) continue;
    answered.add(key);
    out.push(ids[i]!);
  }
  return out;
}

/**
 * The ids (latin1) of a new pack's `entries` that the index places in a pack whose file is gone:
 * a backup sent them again because `missing` said so, and the new pack's copies must take over
 * (ChunkIndex.addPack's `repoint`), whether it arrives by upload or by crash recovery.
 */
export async function lostCopies(vault: Vault, entries: readonly PackEntry[]): Promise<Set<string>> {
  const ids = entries.map((e) => e.id);
  const known = vault.index.lookup(ids);
  const lost = await lostPacks(vault, known.flatMap((loc) => (loc ? [loc.pack] : [])));
  const out = new Set<string>();
  known.forEach((loc, i) => {
    if (loc && lost.has(loc.pack)) out.add(ids[i]!.toString('latin1'));
  });
  return out;
}

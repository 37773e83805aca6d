// What a storage server reports about its room: free and total bytes of the file system its data
// folder is on (statfs), and per vault the packs its index holds and their bytes. The index keeps
// each pack's size as it was made durable, so the totals cost one aggregate query per vault and
// no walk of the pack files (a pack a gc retired but has not unlinked yet is no longer counted).
// With CAIRN_TEST=1, CAIRN_TEST_DISK_FREE_BYTES replaces the free bytes, so tests can show a
// filling disk.
import { statfs } from 'node:fs/promises';
import { fromSystemError } from '../core/errors.ts';
import { testNumber } from '../core/test-settings.ts';
import type { StorageFiguresResult } from '../protocol/control.ts';
import type { VaultStore } from './vault-store.ts';

export type DiskSpace = { freeBytes: number; totalBytes: number };

export async function diskSpace(dir: string): Promise<DiskSpace> {
  const s = await statfs(dir).catch((e: unknown) => {
    throw fromSystemError(e, `reading the disk space of ${dir}`);
  });
  const totalBytes = s.blocks * s.bsize;
  // bavail: what this (unprivileged) process may still write, not the root reserve
  return { freeBytes: testNumber('DISK_FREE_BYTES') ?? s.bavail * s.bsize, totalBytes };
}

/** Each vault's indexed packs; a vault that cannot be opened (damaged) is left out rather than failing the rest. */
export async function vaultTotals(store: VaultStore): Promise<StorageFiguresResult['vaults']> {
  const out: StorageFiguresResult['vaults'] = [];
  for (const name of await store.list()) {
    const vault = await store.open(name).catch(() => undefined);
    if (!vault) continue;
    const { packs, bytes } = vault.index.packTotals();
    out.push({ name, bytesStored: bytes, packs });
  }
  return out;
}

export async function storageFigures(store: VaultStore): Promise<StorageFiguresResult> {
  const [disk, vaults] = await Promise.all([diskSpace(store.dataDir), vaultTotals(store)]);
  return { diskFreeBytes: disk.freeBytes, diskTotalBytes: disk.totalBytes, vaults };
}

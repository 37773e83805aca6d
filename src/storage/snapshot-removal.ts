// Removing snapshots: `deleteSnapshot` drops snapshots/<id>.snap, then <id>.refs, each unlink made
// durable before the next, so a crash between leaves refs without a record (a gc still marks
// them: it keeps data, never loses it) and never a visible snapshot without its refs. It is
// idempotent: a snapshot already gone answers deleted too. An append-only storage server removes
// nothing here: it records a deletion request, deletions/<id> (durable), that only a gc the
// admin confirmed carries out (gc.ts).
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../core/durable-fs.ts';
import { fromSystemError } from '../core/errors.ts';
import { now } from '../core/test-settings.ts';
import { refsPath, snapPath } from './snapshot-store.ts';
import type { Vault } from './vault-store.ts';

const SNAPSHOT_ID = /^[0-9a-f]{64}$/;

function deletionsDir(vault: Vault): string {
  return join(vault.dir, 'deletions');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Removes the snapshot (record, then refs) and any deletion request for it. */
export async function deleteSnapshot(vault: Vault, id: string): Promise<void> {
  try {
    for (const path of [snapPath(vault, id), refsPath(vault, id), join(deletionsDir(vault), id)]) {
      if (!(await exists(path))) continue;
      await rm(path, { force: true });
      await fsyncDir(join(path, '..'));
    }
  } catch (e) {
    throw fromSystemError(e, `deleting snapshot ${id} of vault ${vault.name}`);
  }
}

/** Records a request to delete the snapshot (append-only); false when there is no such snapshot. */
export async function requestDeletion(vault: Vault, id: string): Promise<boolean> {
  if (!(await exists(snapPath(vault, id)))) return false;
  if ((await mkdir(deletionsDir(vault), { recursive: true })) !== undefined) await fsyncDir(vault.dir);
  await writeFileAtomic(join(deletionsDir(vault), id), `${new Date(now()).toISOString()}\n`, { tmpDir: vault.tmpDir });
  return true;
}

/** The snapshots whose deletion was requested and that still exist, sorted. */
export async function deletionRequests(vault: Vault): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(deletionsDir(vault));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError(e, `reading deletion requests of vault ${vault.name}`);
  }
  const out: string[] = [];
  for (const n of names.filter((n) => SNAPSHOT_ID.test(n)).sort()) if (await exists(snapPath(vault, n))) out.push(n);
  return out;
}

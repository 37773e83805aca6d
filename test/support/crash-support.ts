// What the crash-recovery tests need around a cluster: incompressible source trees written fast,
// the bytes of packs a storage server holds durably in a vault (what a kill cannot take back),
// waiting for a run to end or to reach a point, and the rsync comparison of a restore.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FINISHED, type RunJson } from '../../src/protocol/api-types.ts';
import type { Cluster } from './cluster.ts';

const PIECE = 4 * 1024 * 1024;

/** `files` files of `mib` MiB of random bytes each (plus a small text file and a subfolder) under `dir`. */
export function incompressibleTree(dir: string, files: number, mib: number): string {
  fs.mkdirSync(join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(join(dir, 'sub', 'note.txt'), 'a small file beside the big ones\n');
  for (let f = 0; f < files; f++) {
    const fd = fs.openSync(join(dir, f % 2 ? 'sub' : '', `random-${f}.bin`), 'w');
    for (let written = 0; written < mib * 1024 * 1024; written += PIECE) fs.writeSync(fd, randomBytes(PIECE));
    fs.closeSync(fd);
  }
  return dir;
}

/** Bytes of the pack files a storage server has renamed into VAULT/packs (durable, indexed or recoverable). */
export function packBytes(storageDataDir: string, vault: string): number {
  const dir = join(storageDataDir, 'vaults', vault, 'packs');
  if (!fs.existsSync(dir)) return 0;
  let total = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += fs.statSync(join(e.parentPath, e.name)).size;
  return total;
}

/** Ids of the snapshot records a storage server holds in a vault, sorted. */
export function vaultSnapshots(storageDataDir: string, vault: string): string[] {
  const dir = join(storageDataDir, 'vaults', vault, 'snapshots');
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.snap'))
    .map((n) => n.slice(0, -'.snap'.length))
    .sort();
}

/** Polls `check` every 20 ms until it is true; throws after `tries` polls (a bound, not a timing). */
export async function pollUntil(what: string, check: () => boolean | Promise<boolean>, tries = 3000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`gave up waiting: ${what}`);
}

/** The run, once it has ended (polling `run show --json`). */
export async function endedRun(c: Cluster, id: number): Promise<RunJson> {
  for (let i = 0; i < 1200; i++) {
    const run = await c.json<RunJson>(['run', 'show', String(id)]);
    if (FINISHED.includes(run.status)) return run;
    await sleep(100);
  }
  throw new Error(`run ${id} did not end`);
}

/** `job run JOB --wait` that must fail: exit 1, status `failed`, no snapshot; the run. */
export async function failedJobRun(c: Cluster, job: string): Promise<RunJson> {
  const ran = await c.cli(['job', 'run', job, '--wait', '--json']);
  assert.equal(ran.code, 1, ran.stderr);
  const run = JSON.parse(ran.stdout) as RunJson;
  assert.equal(run.status, 'failed', JSON.stringify(run));
  assert.equal(run.snapshot, null);
  return run;
}

export function assertRsyncIdentical(src: string, restored: string): void {
  const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src}/`, `${restored}/`], { encoding: 'utf8' });
  assert.equal(rsync.status, 0, rsync.stderr);
  assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
}

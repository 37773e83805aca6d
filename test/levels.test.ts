// Backup levels with Bacula's meaning, end to end on a real cluster: a full, incrementals that
// read only what changed since the last backup (a 100-byte insertion into a 200 MB file stores a
// few chunks, not the file), a differential that reads everything changed since the full, a
// no-change incremental that reads nothing, deleted files gone from the next snapshot,
// --force-read, `job estimate` agreeing with the run that follows it, and every snapshot
// restored alone, rsync-identical to a copy of the tree taken at its moment. Also: a backup
// that read something despite failed paths succeeds with warnings; one that read nothing fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Level } from '../src/protocol/api-schema.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical } from './support/crash-support.ts';

const PASSPHRASE = 'correct horse battery staple for tests';
const MIB = 1024 * 1024;
const BIG_MIB = 200;
const PIECE = 4 * MIB;

type Estimate = { files: number; bytes: number; level: Level };

function writeRandomFile(file: string, mib: number): void {
  const fd = openSync(file, 'w');
  for (let written = 0; written < mib * MIB; written += PIECE) writeSync(fd, randomBytes(PIECE));
  closeSync(fd);
}

/** Inserts `bytes` at the middle of `file`, in place (same inode): the tail moves up. */
function insertInMiddle(file: string, bytes: Buffer): void {
  const size = statSync(file).size;
  const mid = Math.floor(size / 2);
  const fd = openSync(file, 'r+');
  try {
    const tail = Buffer.alloc(size - mid);
    for (let got = 0; got < tail.length; ) got += readSync(fd, tail, got, tail.length - got, mid + got);
    writeSync(fd, bytes, 0, bytes.length, mid);
    writeSync(fd, tail, 0, tail.length, mid + bytes.length);
  } finally {
    closeSync(fd);
  }
}

/** A small text file with new content (its size changes too). */
function change(file: string, step: number): void {
  writeFileSync(file, `changed at step ${step}: ${randomBytes(16 + step).toString('hex')}\n`);
}

function copyOf(src: string): string {
  const dest = join(tempDir('cairn-moment-'), 'tree');
  const cp = spawnSync('cp', ['-a', src, dest], { encoding: 'utf8' });
  assert.equal(cp.status, 0, cp.stderr);
  return dest;
}

describe('backup levels', { concurrency: 1 }, () => {
  let c: Cluster;
  let src: string;
  /** every backup taken: its run and the copy of the tree at its moment */
  const moments: { run: RunJson; copy: string }[] = [];

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    src = join(tempDir('cairn-levels-src-'), 'data');
    mkdirSync(join(src, 'docs', 'deep'), { recursive: true });
    for (let i = 1; i <= 6; i++) writeFileSync(join(src, 'docs', `f${i}.txt`), `file ${i}\n`.repeat(100 * i));
    writeFileSync(join(src, 'docs', 'deep', 'doomed.txt'), 'deleted before the sixth backup\n');
    writeFileSync(join(src, 'empty'), '');
    writeRandomFile(join(src, 'big.bin'), BIG_MIB);
    const r = await c.cli(['job', 'create', 'home', '--agent', 'a1', '--storage', 's1', '--path', src, '--json'], undefined, {
      CAIRN_PASSPHRASE: PASSPHRASE,
    });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await c?.stop();
  });

  /** Estimates, copies the tree, runs the backup; checks the run read what the estimate said. */
  async function backup(level: Level, extra: string[] = []): Promise<RunJson> {
    const estimate = await c.json<Estimate>(['job', 'estimate', 'home', '--level', level, ...extra]);
    const copy = copyOf(src);
    const run = await c.json<RunJson>(['job', 'run', 'home', '--level', level, '--wait', ...extra]);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.deepEqual(run.warnings, []);
    assert.equal(run.requestedLevel, level);
    assert.equal(estimate.level, run.level, 'the estimate resolves the level as the run does');
    assert.deepEqual({ files: estimate.files, bytes: estimate.bytes }, { files: run.filesChanged, bytes: run.bytesRead }, 'the estimate foretells the run');
    assert.equal(run.files, 9 - (moments.length >= 5 ? 1 : 0), 'every snapshot is complete');
    moments.push({ run, copy });
    return run;
  }

  it('full, incrementals, differential: each reads only what its level asks', async () => {
    const docs = (n: number) => join(src, 'docs', `f${n}.txt`);

    // 1: asked as incremental, the first backup runs as full and says so
    const full = await backup('incremental');
    assert.equal(full.level, 'full');
    assert.equal(full.filesChanged, 9);
    assert.ok(full.bytesRead > BIG_MIB * MIB, JSON.stringify(full));
    const log = await c.json<{ message: string }[]>(['run', 'log', String(full.id)]);
    assert.ok(log.some((l) => /running incremental as full/.test(l.message)), JSON.stringify(log));

    // 2: two small files changed and 100 bytes inserted into the middle of the big one
    change(docs(1), 2);
    change(docs(2), 2);
    insertInMiddle(join(src, 'big.bin'), randomBytes(100));
    const inc = await backup('incremental');
    assert.equal(inc.level, 'incremental');
    assert.equal(inc.filesChanged, 3);
    assert.ok(inc.bytesNew < 12 * MIB, `an insertion stores a few chunks, not the file: ${inc.bytesNew} bytes new`);

    // 3: one more
    change(docs(3), 3);
    assert.equal((await backup('incremental')).filesChanged, 1);

    // 4: one more, then a differential reads all five changed since the full
    change(docs(4), 4);
    const diff = await backup('differential');
    assert.equal(diff.level, 'differential');
    assert.equal(diff.filesChanged, 5);

    // 5: nothing changed: nothing read
    const idle = await backup('incremental');
    assert.equal(idle.filesChanged, 0);
    assert.equal(idle.bytesRead, 0);

    // 6: a deleted file vanishes from the next snapshot (and stays in the one before)
    rmSync(join(src, 'docs', 'deep', 'doomed.txt'));
    const afterDelete = await backup('incremental');
    assert.equal(afterDelete.filesChanged, 0);
    const names = async (snapshot: string) =>
      (await c.json<{ name: string }[]>(['snapshot', 'ls', snapshot, join(src, 'docs', 'deep')])).map((e) => e.name);
    assert.deepEqual(await names(idle.snapshot!), ['doomed.txt']);
    assert.deepEqual(await names(afterDelete.snapshot!), []);

    // 7: --force-read reads every file though nothing changed
    const forced = await backup('incremental', ['--force-read']);
    assert.equal(forced.level, 'incremental');
    assert.equal(forced.filesChanged, forced.files);
    assert.equal(forced.bytesRead, forced.bytes);
    assert.equal(forced.bytesNew < MIB, true, 'nothing new to store');
    const forcedLog = await c.json<{ message: string }[]>(['run', 'log', String(forced.id)]);
    assert.ok(forcedLog.some((l) => /force-read/.test(l.message)), JSON.stringify(forcedLog));
  });

  it('every snapshot restores alone, rsync-identical to the tree at its moment', async () => {
    assert.equal(moments.length, 7);
    for (const { run, copy } of moments) {
      const to = tempDir('cairn-levels-restore-');
      const restored = await c.json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
      assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
      assertRsyncIdentical(copy, join(to, src));
      rmSync(to, { recursive: true, force: true });
    }
  });

  it('failed paths: succeeded with warnings when something was read, failed when nothing was', async () => {
    const missing = join(src, 'no-such-folder');
    const some = await c.cli(['job', 'create', 'partly', '--agent', 'a1', '--storage', 's1', '--path', join(src, 'docs'), '--path', missing]);
    assert.equal(some.code, 0, some.stderr);
    const partly = await c.json<RunJson>(['job', 'run', 'partly', '--wait']);
    assert.equal(partly.status, 'succeeded', JSON.stringify(partly));
    assert.equal(partly.files, 6);
    assert.deepEqual(partly.warnings.map((w) => w.path), [missing]);

    const none = await c.cli(['job', 'create', 'nothing', '--agent', 'a1', '--storage', 's1', '--path', missing]);
    assert.equal(none.code, 0, none.stderr);
    const r = await c.cli(['job', 'run', 'nothing', '--wait', '--json']);
    assert.equal(r.code, 1, 'a failed run exits 1');
    const failed = JSON.parse(r.stdout) as RunJson;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error!, /^nothing could be read: 1 path\(s\) failed, first .*no-such-folder: does not exist$/);
    assert.equal(failed.snapshot, null);
    assert.deepEqual(failed.warnings.map((w) => w.path), [missing]);
    // a failed backup is no reference: the next run of the job still runs as full
    const again = await c.json<Estimate>(['job', 'estimate', 'nothing']);
    assert.deepEqual(again, { files: 0, bytes: 0, level: 'full', parent: null });
  });
});

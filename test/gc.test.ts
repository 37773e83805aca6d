// forget + gc on the real processes: forgetting a snapshot and running `cairn gc` gives back at
// least 90% of its unique data on the storage server's disk, matching the run's bytesFreed
// within 1 MiB, and the kept snapshot still verifies at data level and restores identical. On
// an append-only storage server a gc without the code frees nothing and says where the code is;
// a wrong code is refused; the right one frees. Bad input (unknown or offline storage) is refused.
// A restart fails the gc the last process left running, and a queued one whose code it held.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { PartJson, RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical, packBytes, pollUntil, vaultSnapshots } from './support/crash-support.ts';
import { TestClock } from './support/test-clock.ts';

const MiB = 1024 * 1024;
const PASSPHRASE = { CAIRN_PASSPHRASE: 'gc test passphrase' };

describe('forget and gc', { concurrency: 1 }, () => {
  let c: Cluster;
  const clock = new TestClock();

  before(async () => {
    // a backup's chunks are spared for a grace after it (24 h by default): none here
    clock.set(Date.UTC(2030, 5, 3, 10, 0));
    c = await startCluster({ agents: ['a1'], storages: ['s1'], env: { ...clock.env(), CAIRN_TEST_RETRY_BACKOFF_MS: '300' } });
    await c.addStorage('ao', ['--append-only']);
  });
  after(async () => {
    await c?.stop();
  });

  /** A job on `storage` over a folder with a 24 MiB file and a small shared one; two snapshots: with the big file, then without it. */
  async function twoSnapshots(job: string, storage: string): Promise<{ src: string; first: string; second: RunJson }> {
    const src = join(tempDir('cairn-gc-src-'), 'data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'shared.bin'), randomBytes(MiB));
    writeFileSync(join(src, 'big.bin'), randomBytes(24 * MiB));
    const r = await c.cli(['job', 'create', job, '--agent', 'a1', '--storage', storage, '--path', src], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    const first = await c.json<RunJson>(['job', 'run', job, '--wait']);
    rmSync(join(src, 'big.bin'));
    writeFileSync(join(src, 'new.bin'), randomBytes(2 * MiB));
    const second = await c.json<RunJson>(['job', 'run', job, '--wait']);
    assert.equal(second.status, 'succeeded');
    return { src, first: first.snapshot!, second };
  }

  it('forget + gc frees the forgotten snapshot\'s unique data; the kept one verifies and restores', async () => {
    const vault = 'admin.s1';
    const dir = c.storages.get('s1')!.dataDir;
    const { src, first, second } = await twoSnapshots('plain', 's1');
    const forgot = await c.json<{ forgotten: string[] }>(['snapshot', 'forget', first]);
    assert.deepEqual(forgot.forgotten, [first]);
    const before = packBytes(dir, vault);
    const gc = await c.json<RunJson>(['gc', '--storage', 's1', '--wait']);
    assert.equal(gc.status, 'succeeded', JSON.stringify(gc));
    assert.equal(gc.kind, 'gc');
    assert.equal(gc.agent, null);
    const dropped = before - packBytes(dir, vault);
    assert.ok(dropped >= 0.9 * 24 * MiB, `the disk gave back ${dropped} bytes of 24 MiB`);
    assert.ok(Math.abs(dropped - gc.bytesFreed!) <= MiB, `bytesFreed ${gc.bytesFreed} vs ${dropped} dropped`);
    assert.ok(gc.chunksDeleted! > 0 && gc.packsDeleted! + gc.packsRewritten! > 0, JSON.stringify(gc));
    const verified = await c.json<RunJson>(['verify', second.snapshot!, '--level', 'data', '--wait']);
    assert.equal(verified.status, 'succeeded', JSON.stringify(verified));
    const to = tempDir('cairn-gc-restore-');
    const restored = await c.json<RunJson>(['restore', second.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded');
    assertRsyncIdentical(src, join(to, src));
  });

  it('the race, 10 times: a backup reusing chunks only a forgotten snapshot named, with a gc in the middle, never stores a snapshot with a hole', async () => {
    const src = join(tempDir('cairn-gc-race-'), 'data');
    mkdirSync(src, { recursive: true });
    const r = await c.cli(['job', 'create', 'race', '--agent', 'a1', '--storage', 's1', '--path', src, '--retries', '3', '--bwlimit', '2M'], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      rmSync(src, { recursive: true, force: true });
      mkdirSync(src);
      for (let f = 0; f < 4; f++) writeFileSync(join(src, `a${f}.bin`), randomBytes(MiB));
      const first = await c.json<RunJson>(['job', 'run', 'race', '--level', 'full', '--wait']);
      assert.equal(first.status, 'succeeded');
      await c.json(['snapshot', 'forget', first.snapshot!]);
      // the same data again (its chunks referenced by nothing now) and a new file sent slowly, so the
      // gc lands after the backup was told the old chunks are there and before its snapshot is stored
      writeFileSync(join(src, 'z-new.bin'), randomBytes(2 * MiB));
      const again = c.cli(['job', 'run', 'race', '--level', 'full', '--wait', '--json']);
      await pollUntil('the backup has read the reused files', async () => {
        const run = (await c.json<RunJson[]>(['run', 'list', '--job', 'race']))[0]!;
        return run.id !== first.id && (run.status !== 'running' || run.bytesRead >= 4 * MiB);
      });
      const gc = await c.cli(['gc', '--storage', 's1', '--wait', '--json']);
      assert.equal(gc.code, 0, gc.stderr);
      const ended = await again;
      assert.equal(ended.code, 0, `the backup (or its retry) succeeds: ${ended.stderr}`);
      const run = JSON.parse(ended.stdout) as RunJson;
      outcomes.push(`attempt ${run.attempt}, ${(JSON.parse(gc.stdout) as RunJson).chunksDeleted} chunks collected`);
      const verified = await c.json<RunJson>(['verify', run.snapshot!, '--level', 'data', '--wait']);
      assert.equal(verified.status, 'succeeded', `round ${i}: snapshot ${run.snapshot} has every chunk: ${JSON.stringify(verified.damaged)}`);
      rmSync(join(src, 'z-new.bin'));
    }
    process.stderr.write(`race outcomes: ${outcomes.join('; ')}\n`);
  });

  it('append-only: gc without the code frees nothing and says where it is; a wrong code is refused; the right one frees', async () => {
    const vault = 'admin.ao';
    const dir = c.storages.get('ao')!.dataDir;
    const { first } = await twoSnapshots('guarded', 'ao');
    const forgot = await c.json<{ forgotten: string[] }>(['snapshot', 'forget', first]);
    assert.deepEqual(forgot.forgotten, [first], 'gone from the catalog');
    assert.ok(vaultSnapshots(dir, vault).includes(first), 'kept on append-only storage until a confirmed gc');
    const before = packBytes(dir, vault);
    const marked = await c.cli(['gc', '--storage', 'ao', '--wait']);
    assert.equal(marked.code, 0, marked.stderr);
    assert.match(marked.stdout, /confirmation needed: read DATA\/gc-confirm on storage ao/);
    assert.equal(packBytes(dir, vault), before, 'nothing freed without the code');
    const codeFile = join(dir, 'gc-confirm');
    assert.equal(statSync(codeFile).mode & 0o777, 0o600);
    const wrong = await c.cli(['gc', '--storage', 'ao', '--confirm', 'not-the-code', '--wait']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /gc confirmation code is wrong or expired/);
    assert.equal(packBytes(dir, vault), before);
    const code = readFileSync(codeFile, 'utf8').trim().split(/\s+/)[0]!;
    const freed = await c.json<RunJson>(['gc', '--storage', 'ao', '--confirm', code, '--wait']);
    assert.equal(freed.status, 'succeeded', JSON.stringify(freed));
    assert.ok(before - packBytes(dir, vault) >= 0.9 * 24 * MiB);
    assert.ok(!vaultSnapshots(dir, vault).includes(first));
  });

  it('storage set --gc-schedule runs a gc at its slots', async () => {
    const set = await c.json<PartJson>(['storage', 'set', 's1', '--gc-schedule', '*/30 * * * *']);
    assert.equal(set.gcSchedule, '*/30 * * * *');
    const gcs = async () => (await c.json<RunJson[]>(['run', 'list'])).filter((r) => r.kind === 'gc' && r.storage === 's1');
    const before = (await gcs()).length;
    clock.set(Date.UTC(2030, 5, 3, 10, 30, 1));
    await pollUntil('the scheduled gc ran', async () => (await gcs()).length === before + 1 && (await gcs())[0]!.status === 'succeeded');
    const log = (await c.json<{ message: string }[]>(['run', 'log', String((await gcs())[0]!.id)])).map((l) => l.message);
    assert.ok(log.includes('queued gc by the schedule of storage s1, slot 10:30'), JSON.stringify(log));
    const bad = await c.cli(['storage', 'set', 's1', '--gc-schedule', '0 0 3 * * *']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a 5-field cron expression/);
    const off = await c.json<PartJson>(['storage', 'set', 's1', '--gc-schedule', 'none']);
    assert.equal(off.gcSchedule, null);
  });

  it('gc of an unknown or offline storage server is refused, nothing queued', async () => {
    const runs = (await c.json<RunJson[]>(['run', 'list'])).length;
    const unknown = await c.cli(['gc', '--storage', 'nosuch']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no storage named nosuch/);
    await c.storages.get('ao')!.stop();
    const offline = await c.cli(['gc', '--storage', 'ao']);
    assert.equal(offline.code, 1);
    assert.match(offline.stderr, /storage ao is offline/);
    const missing = await c.cli(['gc']);
    assert.equal(missing.code, 2);
    assert.equal((await c.json<RunJson[]>(['run', 'list'])).length, runs);
  });

  it('after a restart: a gc the last process left running, and a queued gc given a code, fail saying why', async () => {
    // what a crash leaves in the catalog: a gc whose answer had nowhere to go, and a confirmed one
    // still queued (its code lived only in that process)
    await c.server.stop();
    const catalog = new DatabaseSync(join(c.serverDir, 'catalog.db'));
    const storage = (catalog.prepare('SELECT id FROM storages WHERE name = ?').get('s1') as { id: number }).id;
    const insert = catalog.prepare('INSERT INTO runs (kind, status, queued_at, started_at, storage_id, pretreatment) VALUES (?, ?, ?, ?, ?, ?)');
    const at = Date.now();
    const running = Number(insert.run('gc', 'running', at, at, storage, null).lastInsertRowid);
    const confirmed = Number(insert.run('gc', 'queued', at, null, storage, '{"confirmed":true}').lastInsertRowid);
    catalog.close();
    await c.restartServer();
    const gone = await c.json<RunJson>(['run', 'show', String(running)]);
    assert.equal(gone.status, 'failed');
    assert.equal(gone.error, 'the backup server restarted during the gc');
    const lost = await c.json<RunJson>(['run', 'show', String(confirmed)]);
    assert.equal(lost.status, 'failed');
    assert.equal(lost.error, 'the backup server restarted before this confirmed gc started: run cairn gc --confirm again');
  });
});

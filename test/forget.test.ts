// Retention and forget on the real processes: a job with --keep-last 2 keeps its two newest
// snapshots after each of 4 backups, in the catalog and on the storage server; `forget
// --dry-run` changes nothing and `forget --keep-last 1` forgets what it lists; a snapshot a
// running backup builds on is refused (409); with the storage server offline a forgotten
// snapshot is `forgetting` (hidden) and finished once it is back; bad input changes nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson, SnapshotJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { endedRun, incompressibleTree, pollUntil, vaultSnapshots } from './support/crash-support.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'forget test passphrase' };
const VAULT = 'admin.s1';

describe('retention and forget', { concurrency: 1 }, () => {
  let c: Cluster;
  let src: string;
  const onStorage = () => vaultSnapshots(c.storages.get('s1')!.dataDir, VAULT);
  const listed = async (job: string) => (await c.json<SnapshotJson[]>(['snapshot', 'list', '--job', job])).map((s) => s.id);

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    src = incompressibleTree(join(tempDir('cairn-forget-src-'), 'data'), 3, 3);
    const r = await c.cli(['job', 'create', 'kept', '--agent', 'a1', '--storage', 's1', '--path', src, '--keep-last', '2'], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await c?.stop();
  });

  it('--keep-last 2 over 4 backups keeps the two newest, in the catalog and on the storage server', async () => {
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      appendFileSync(join(src, 'changing.txt'), `backup ${i}\n`);
      const run = await c.json<RunJson>(['job', 'run', 'kept', '--wait']);
      assert.equal(run.status, 'succeeded', JSON.stringify(run));
      made.push(run.snapshot!);
    }
    const kept = made.slice(2).reverse();
    assert.deepEqual(await listed('kept'), kept);
    assert.deepEqual(onStorage(), [...kept].sort());
    const last = (await c.json<RunJson[]>(['run', 'list', '--job', 'kept']))[0]!;
    const log = (await c.json<{ message: string }[]>(['run', 'log', String(last.id)])).map((l) => l.message);
    assert.ok(log.includes(`retention: forgot 1 snapshot(s): ${made[1]}`), JSON.stringify(log));
    // the forgotten ones are gone for restores too
    const r = await c.cli(['restore', made[0]!, '--to', tempDir('cairn-forget-r-')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no snapshot/);
  });

  it('forget --dry-run changes nothing; forget --keep-last 1 forgets what it listed', async () => {
    const before = await listed('kept');
    const dry = await c.json<{ kept: string[]; forgotten: string[] }>(['forget', '--job', 'kept', '--keep-last', '1', '--dry-run']);
    assert.deepEqual(dry.kept, [before[0]]);
    assert.deepEqual(dry.forgotten, [before[1]]);
    assert.deepEqual(await listed('kept'), before, 'a dry run changes nothing');
    assert.equal(onStorage().length, 2);
    const done = await c.json<{ kept: string[]; forgotten: string[]; forgetting: string[] }>(['forget', '--job', 'kept', '--keep-last', '1']);
    assert.deepEqual(done, { kept: [before[0]], forgotten: [before[1]], forgetting: [] });
    assert.deepEqual(await listed('kept'), [before[0]]);
    assert.deepEqual(onStorage(), [before[0]]);
  });

  it('a snapshot a running backup builds on is refused; one forgotten while the storage server is offline is finished when it is back', async () => {
    const r = await c.cli(['job', 'edit', 'kept', '--bwlimit', '1M', '--no-keep']);
    assert.equal(r.code, 0, r.stderr);
    const [parent] = await listed('kept');
    appendFileSync(join(src, 'big.bin'), randomBytes(6 * 1024 * 1024));
    const running = await c.json<RunJson>(['job', 'run', 'kept', '--level', 'full']);
    await pollUntil('the backup runs', async () => (await c.json<RunJson>(['run', 'show', String(running.id)])).status === 'running');
    const refused = await c.cli(['snapshot', 'forget', parent!]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim(), `cairn: snapshot ${parent} is in use by run ${running.id}`);
    const ended = await endedRun(c, running.id);
    assert.equal(ended.status, 'succeeded');
    assert.deepEqual(await listed('kept'), [ended.snapshot, parent]);

    await c.storages.get('s1')!.stop();
    const offline = await c.json<{ forgotten: string[]; forgetting: string[] }>(['snapshot', 'forget', parent!]);
    assert.deepEqual(offline, { forgotten: [], forgetting: [parent] });
    assert.deepEqual(await listed('kept'), [ended.snapshot], 'hidden while it is forgotten');
    assert.ok(onStorage().includes(parent!), 'still on the offline storage server');
    await c.restartStorage('s1');
    await pollUntil('the storage server deleted it once back', () => !onStorage().includes(parent!));
  });

  it('bad input: one line, the exit code of SPEC, nothing changed', async () => {
    const before = await listed('kept');
    const cases: [string[], number, RegExp][] = [
      [['forget', '--job', 'kept', '--keep-last', '0'], 2, /--keep-last must be a whole number of at least 1/],
      [['forget', '--job', 'kept'], 2, /job kept has no retention policy: give --keep-…/],
      [['forget', '--job', 'nosuch', '--keep-last', '1'], 1, /no job named nosuch/],
      [['forget', '--keep-last', '1'], 2, /--job/],
      [['snapshot', 'forget', 'ffffffffffff'], 1, /no snapshot ffffffffffff/],
    ];
    for (const [args, code, message] of cases) {
      const r = await c.cli(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    assert.deepEqual(await listed('kept'), before);
  });
});

// Schedules that fire, on the real processes with the test clock (CAIRN_TEST=1, the server's
// wall clock moved by a file): a slot fires at its minute and not before, at the highest level
// of the expressions that coincide; slots missed while the server was down run once, at the
// highest level missed, logged as such; a slot that fires while the job's backup waits merges
// into it; a paused job fires nothing, and resuming does not fire what it missed meanwhile.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JobJson, RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { endedRun, incompressibleTree, pollUntil } from './support/crash-support.ts';
import { TestClock } from './support/test-clock.ts';

const JOB = 'nightly';
/** Monday 7 January 2030, UTC (the daemons run with TZ=UTC) */
const day = (d: number, h: number, m: number, s = 0) => Date.UTC(2030, 0, d, h, m, s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('schedules', { concurrency: 1 }, () => {
  const clock = new TestClock();
  let c: Cluster;
  const runs = async () => (await c.json<RunJson[]>(['run', 'list', '--job', JOB])).reverse();
  const log = async (id: number) => (await c.json<{ message: string }[]>(['run', 'log', String(id)])).map((l) => l.message);

  before(async () => {
    clock.set(day(7, 3, 0));
    c = await startCluster({ agents: ['a1'], storages: ['s1'], env: clock.env() });
    const src = incompressibleTree(join(tempDir('cairn-sched-src-'), 'data'), 2, 1);
    const r = await c.cli(
      ['job', 'create', JOB, '--agent', 'a1', '--storage', 's1', '--path', src, '--schedule', '30 3 * * *=incremental', '--schedule', '30 3 * * 1=full', '--schedule', '0 4 * * *=differential', '--json'],
      undefined,
      { CAIRN_PASSPHRASE: 'schedules test passphrase' },
    );
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await c?.stop();
  });

  it('fires at its minute, not before, at the highest level of the expressions that coincide', async () => {
    const job = await c.json<JobJson>(['job', 'show', JOB]);
    assert.equal(job.nextRun, new Date(day(7, 3, 30)).toISOString());
    clock.set(day(7, 3, 29, 56));
    const setAt = Date.now();
    await sleep(2000);
    assert.deepEqual(await runs(), [], 'nothing before 03:30');
    await pollUntil('the 03:30 slot fired', async () => (await runs()).length > 0);
    assert.ok(Date.now() - setAt >= 3500, 'it fired once the clock passed 03:30, not before');
    const [run] = await runs();
    assert.equal(run!.requestedLevel, 'full', 'Monday 03:30: full and incremental coincide, full wins');
    assert.ok((await log(run!.id)).includes('queued backup (full) by the schedule, slot 03:30'));
    assert.equal((await endedRun(c, run!.id)).status, 'succeeded');
    clock.set(day(7, 3, 45));
    await sleep(1000);
    assert.equal((await runs()).length, 1, 'one run per slot');
    clock.set(day(7, 4, 0, 1));
    await pollUntil('the 04:00 slot fired', async () => (await runs()).length === 2);
    const second = (await runs())[1]!;
    assert.equal(second.requestedLevel, 'differential');
    assert.equal((await endedRun(c, second.id)).status, 'succeeded');
  });

  it('slots missed while the server was down run once, at the highest level missed', async () => {
    await c.server.stop();
    // Tuesday 03:30 (incremental) and 04:00 (differential) pass while it is down
    clock.set(day(8, 4, 10));
    await c.restartServer();
    await pollUntil('the missed slots ran', async () => (await runs()).length === 3);
    await sleep(1000);
    const all = await runs();
    assert.equal(all.length, 3, 'once, not once per missed slot');
    const missed = all[2]!;
    assert.equal(missed.requestedLevel, 'differential');
    assert.ok((await log(missed.id)).includes('missed 2 slot(s) while the server was down; running differential once'), JSON.stringify(await log(missed.id)));
    assert.equal((await endedRun(c, missed.id)).status, 'succeeded');
  });

  it('a slot that fires while the backup waits merges into it, raising its level', async () => {
    await c.agents.get('a1')!.stop();
    clock.set(day(9, 3, 30, 1)); // Wednesday 03:30: incremental
    await pollUntil('the 03:30 slot queued a run', async () => (await runs()).length === 4);
    const waiting = (await runs())[3]!;
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.requestedLevel, 'incremental');
    await pollUntil('it says why it waits', async () => (await c.json<RunJson>(['run', 'show', String(waiting.id)])).reason === 'agent a1 offline');
    clock.set(day(9, 4, 0, 1)); // 04:00: differential
    await pollUntil('merged', async () => (await log(waiting.id)).some((l) => l.startsWith(`slot 04:00 merged into run ${waiting.id}`)));
    const all = await runs();
    assert.equal(all.length, 4, 'no second waiting run');
    assert.equal(all[3]!.requestedLevel, 'differential');
    // a queued run stays queued across a server restart
    await c.restartServer();
    assert.equal((await c.json<RunJson>(['run', 'show', String(waiting.id)])).status, 'queued');
    await c.restartAgent('a1');
    const ended = await endedRun(c, waiting.id);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    assert.equal(ended.level, 'differential');
  });

  it('a paused job fires nothing; resumed, it has missed nothing from before', async () => {
    const paused = await c.json<JobJson>(['job', 'edit', JOB, '--pause']);
    assert.equal(paused.paused, true);
    assert.equal(paused.nextRun, null);
    const listed = await c.cli(['job', 'list']);
    assert.match(listed.stdout, /\(paused\)/);
    clock.set(day(10, 4, 0, 1));
    await sleep(1500);
    assert.equal((await runs()).length, 4);
    const resumed = await c.json<JobJson>(['job', 'edit', JOB, '--resume']);
    assert.equal(resumed.paused, false);
    assert.equal(resumed.nextRun, new Date(day(11, 3, 30)).toISOString());
    await sleep(1500);
    assert.equal((await runs()).length, 4, 'the 03:30 and 04:00 slots passed while paused do not fire');
  });
});

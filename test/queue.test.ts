// The queue on the real processes: 3 agents × 2 storage servers × 12 jobs started together never
// exceed the limits (checked from the runs' start and end times) and all succeed; a job started
// twice runs once at a time; --max-runtime fails a run, which is not retried; a part's own limit
// is set with `agent set`; bad settings are refused with one line and change nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JobJson, PartJson, RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { runCairn } from './support/cli.ts';
import { endedRun, incompressibleTree, pollUntil } from './support/crash-support.ts';
import { CAIRN_BIN } from './support/storage-process.ts';
import { spawn } from 'node:child_process';

const AGENTS = ['qa1', 'qa2', 'qa3'];
const STORAGES = ['qs1', 'qs2'];
const PASSPHRASE = { CAIRN_PASSPHRASE: 'queue test passphrase' };

/** The most runs that overlapped at any instant among `runs` (ended runs, by startedAt/endedAt). */
function maxOverlap(runs: RunJson[]): number {
  const edges = runs.flatMap((r) => [
    { t: Date.parse(r.startedAt!), d: 1 },
    { t: Date.parse(r.endedAt!), d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d); // an end before a start at the same instant
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}

describe('the queue', { concurrency: 1 }, () => {
  let c: Cluster;
  const src = incompressibleTree(join(tempDir('cairn-queue-src-'), 'data'), 4, 2);

  before(async () => {
    c = await startCluster({ agents: AGENTS, storages: STORAGES, serverArgs: ['--max-runs', '3', '--max-runs-per-agent', '2', '--max-runs-per-storage', '2'] });
  });
  after(async () => {
    await c?.stop();
  });

  async function job(name: string, agent: string, storage: string, extra: string[] = []): Promise<void> {
    const r = await c.cli(['job', 'create', name, '--agent', agent, '--storage', storage, '--path', src, ...extra], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
  }

  it('12 jobs over 3 agents and 2 storage servers started together stay within every limit and all succeed', async () => {
    const set = await c.json<PartJson>(['agent', 'set', 'qa3', '--max-runs', '1']);
    assert.equal(set.maxRuns, 1);
    const agents = await c.json<PartJson[]>(['agent', 'list']);
    assert.deepEqual(agents.map((a) => [a.name, a.maxRuns]), [['qa1', 2], ['qa2', 2], ['qa3', 1]]);
    const jobs: { name: string; agent: string; storage: string }[] = [];
    for (let i = 0; i < 12; i++) jobs.push({ name: `q${i}`, agent: AGENTS[i % 3]!, storage: STORAGES[i % 2]! });
    // paced, so that runs overlap long enough for the limits to bind
    for (const j of jobs) await job(j.name, j.agent, j.storage, ['--bwlimit', '4M']);
    const queued = await Promise.all(jobs.map((j) => c.json<RunJson>(['job', 'run', j.name])));
    const reasons = new Set<string>();
    const ended: RunJson[] = [];
    for (const q of queued) {
      const shown = await c.json<RunJson>(['run', 'show', String(q.id)]);
      if (shown.reason) reasons.add(shown.reason);
    }
    for (const q of queued) ended.push(await endedRun(c, q.id));
    for (const r of ended) assert.equal(r.status, 'succeeded', JSON.stringify(r));
    assert.ok(maxOverlap(ended) <= 3, `global limit: ${maxOverlap(ended)} at once`);
    for (const a of AGENTS) assert.ok(maxOverlap(ended.filter((r) => r.agent === a)) <= (a === 'qa3' ? 1 : 2), `agent ${a}`);
    for (const s of STORAGES) assert.ok(maxOverlap(ended.filter((r) => r.storage === s)) <= 2, `storage ${s}`);
    const allowed = /^(global limit of 3|agent qa[12] at its limit of 2|agent qa3 at its limit of 1|storage qs[12] at its limit of 2)$/;
    for (const r of reasons) assert.match(r, allowed);
    assert.ok(reasons.size > 0, 'runs waited, each with a reason');
  });

  it('a job started twice runs once at a time: the second waits behind the first', async () => {
    await c.json<JobJson>(['job', 'edit', 'q0', '--bwlimit', '0']);
    const first = await c.json<RunJson>(['job', 'run', 'q0']);
    const second = await c.json<RunJson>(['job', 'run', 'q0', '--level', 'full']);
    const waiting = await c.json<RunJson>(['run', 'show', String(second.id)]);
    if (waiting.status === 'queued' && waiting.reason !== null) assert.match(waiting.reason, /^job q0 is already running$/);
    const [a, b] = [await endedRun(c, first.id), await endedRun(c, second.id)];
    assert.equal(a.status, 'succeeded');
    assert.equal(b.status, 'succeeded');
    assert.ok(Date.parse(b.startedAt!) >= Date.parse(a.endedAt!), `the second started ${b.startedAt}, after the first ended ${a.endedAt}`);
    const log = await c.json<{ message: string }[]>(['run', 'log', String(second.id)]);
    assert.ok(log.some((l) => l.message === 'queued backup (full)'));
  });

  it('--max-runtime ends a run that outlasts it as failed, without a retry', async () => {
    const slow = incompressibleTree(join(tempDir('cairn-queue-slow-'), 'data'), 2, 8);
    const r = await c.cli(['job', 'create', 'slow', '--agent', 'qa1', '--storage', 'qs1', '--path', slow, '--bwlimit', '1M', '--max-runtime', '3s'], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    const shown = await c.json<JobJson>(['job', 'show', 'slow']);
    assert.equal(shown.maxRuntimeSeconds, 3);
    const ran = await c.cli(['job', 'run', 'slow', '--wait', '--json']);
    assert.equal(ran.code, 1);
    const run = JSON.parse(ran.stdout) as RunJson;
    assert.equal(run.status, 'failed');
    assert.equal(run.error, 'ran longer than --max-runtime 3s');
    assert.equal(run.nextAttempt, null);
    assert.equal(run.snapshot, null);
    const took = Date.parse(run.endedAt!) - Date.parse(run.startedAt!);
    assert.ok(took >= 3000 && took < 12_000, `ended ${took} ms after it started`);
  });

  it('run log --follow prints lines as they come until the run ends; run list --status filters', async () => {
    const queued = await c.json<RunJson>(['job', 'run', 'slow']);
    const followed = await c.cli(['run', 'log', String(queued.id), '--follow']);
    assert.equal(followed.code, 0, followed.stderr);
    const lines = followed.stdout.trim().split('\n');
    assert.match(lines[0]!, /queued backup/);
    assert.match(lines.at(-1)!, /failed: ran longer than --max-runtime 3s$/, 'it followed the run to its end');
    const failed = await c.json<RunJson[]>(['run', 'list', '--status', 'failed']);
    assert.ok(failed.length >= 2 && failed.every((r) => r.status === 'failed'));
    assert.ok(failed.some((r) => r.id === queued.id));
    const bad = await c.cli(['run', 'list', '--status', 'broken']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--status must be one of queued, running, succeeded, failed, canceled/);
  });

  it('Ctrl-C of job run --wait stops the watching, not the run, and says how to follow it', async () => {
    const child = spawn(CAIRN_BIN, ['job', 'run', 'slow', '--wait'], { env: { ...process.env, CAIRN_CONFIG: join(c.serverDir, '..', 'cli.json') } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    let run: RunJson | undefined;
    await pollUntil('the run started', async () => {
      run = (await c.json<RunJson[]>(['run', 'list', '--job', 'slow']))[0];
      return run?.status === 'running';
    });
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(err.trim(), `run ${run!.id} goes on on the server: follow it with cairn run watch ${run!.id}, stop it with cairn run cancel ${run!.id}`);
    assert.equal((await c.json<RunJson>(['run', 'show', String(run!.id)])).status, 'running', 'the run goes on');
    await endedRun(c, run!.id);
  });

  it('cancel works on a running run and on a queued one; neither is retried', async () => {
    const data = incompressibleTree(join(tempDir('cairn-queue-cancel-'), 'data'), 2, 8);
    const r = await c.cli(['job', 'create', 'cancelme', '--agent', 'qa2', '--storage', 'qs2', '--path', data, '--bwlimit', '1M'], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    const running = await c.json<RunJson>(['job', 'run', 'cancelme']);
    const queued = await c.json<RunJson>(['job', 'run', 'cancelme']);
    for (let i = 0; i < 200 && (await c.json<RunJson>(['run', 'show', String(running.id)])).status !== 'running'; i++) await new Promise((res) => setTimeout(res, 50));
    const waiting = await c.json<RunJson>(['run', 'show', String(queued.id)]);
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.reason, 'job cancelme is already running');
    const q = await c.cli(['run', 'cancel', String(queued.id)]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal((await c.json<RunJson>(['run', 'show', String(queued.id)])).status, 'canceled');
    const x = await c.cli(['run', 'cancel', String(running.id)]);
    assert.equal(x.code, 0, x.stderr);
    const ended = await endedRun(c, running.id);
    assert.equal(ended.status, 'canceled', JSON.stringify(ended));
    assert.equal(ended.nextAttempt, null);
    assert.ok(Date.parse(ended.endedAt!) - Date.parse(ended.startedAt!) < 10_000, 'it stopped well before the 16 s its bandwidth limit needs');
    assert.equal((await c.json<RunJson[]>(['run', 'list', '--job', 'cancelme'])).length, 2, 'no retry');
  });

  it('bad settings are refused with one line, exit 2, and change nothing', async () => {
    const before = await c.json<JobJson>(['job', 'show', 'q1']);
    const cases: [string[], RegExp][] = [
      [['job', 'edit', 'q1', '--schedule', '0 0 3 * * *=full'], /is not a 5-field cron expression/],
      [['job', 'edit', 'q1', '--schedule', '@daily=full'], /is not a 5-field cron expression/],
      [['job', 'edit', 'q1', '--schedule', '0 3 * * *=weekly'], /--schedule level must be one of full, differential, incremental/],
      [['job', 'edit', 'q1', '--schedule', '0 25 * * *=full'], /not a valid cron expression/],
      [['job', 'edit', 'q1', '--priority', '1001'], /--priority must be 0 to 1000/],
      [['job', 'edit', 'q1', '--priority=-3'], /--priority must be a whole number/],
      [['job', 'edit', 'q1', '--max-runtime=-5m'], /--max-runtime: not a duration/],
      [['job', 'edit', 'q1', '--max-runtime', 'soon'], /--max-runtime: not a duration/],
      [['job', 'edit', 'q1', '--max-file-size=-1'], /--max-file-size: not a size/],
      [['job', 'edit', 'q1', '--bwlimit', 'fast'], /--bwlimit: not a size/],
      [['job', 'edit', 'q1', '--agent', 'qa2'], /--agent cannot change/],
      [['job', 'create', 'bad', '--agent', 'qa1', '--storage', 'qs1', '--path', src, '--schedule', '0 3 * * * *'], /is not a 5-field cron expression/],
      [['agent', 'set', 'qa1', '--max-runs', '0'], /--max-runs must be a whole number of at least 1/],
      [['copy', '0123456789ab', '--to-storage', 'qs2'], /copy: not supported yet/],
      [['server', 'backup', '--vault', 'v'], /server backup: not supported yet/],
    ];
    for (const [args, message] of cases) {
      const r = await c.cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    const catalog = await runCairn(['server', 'start', '--data', c.serverDir, '--catalog', 'sqlite:/tmp/elsewhere.db'], {});
    assert.equal(catalog.code, 2);
    assert.match(catalog.stderr, /--catalog sqlite:\/tmp\/elsewhere\.db: not supported yet/);
    const unknown = await c.cli(['agent', 'set', 'nobody', '--max-runs', '2']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no agent named nobody/);
    assert.deepEqual(await c.json<JobJson>(['job', 'show', 'q1']), before, 'nothing stored changed');
    assert.equal((await c.cli(['job', 'show', 'bad'])).code, 1, 'no job made');
    assert.equal((await c.json<PartJson[]>(['agent', 'list'])).find((a) => a.name === 'qa1')?.maxRuns, 2);
  });
});

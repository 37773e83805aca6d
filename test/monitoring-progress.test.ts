// Job monitoring on real processes (issue 12, item 1): a console on the event stream sees a
// running backup's progress about once a second with rising counters and its phases in order,
// then the run's end; `run show` of a running run carries the live fields; a console that
// connects mid-run gets the last progress at once; a `user` on the unfiltered stream sees its own
// runs and agents and never another owner's; the run log holds the agent's lines and stops at
// its cap with one line saying how many were not kept; a gc's phases and storage lines arrive;
// `run watch` and `job run --wait` follow the stream (the requests they make show no polling),
// print the end as before, and open the stream again after a server restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, type Daemon, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { endedRun, pollUntil } from './support/crash-support.ts';
import { type Login, Watcher } from './support/event-watcher.ts';
import { userWithAgent as newUserWithAgent } from './support/user-agent.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'monitoring test passphrase' };
const LOG_CAP = 12;
const ENV = { CAIRN_TEST: '1', CAIRN_TEST_RUN_LOG_LINES: String(LOG_CAP) };
const BACKUP_PHASES = ['scanning', 'reading', 'uploading', 'finishing'];

/** Adds `mib` MiB of new random bytes under `dir`, so the next backup has something to send. */
function addRandom(dir: string, mib: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `new-${randomBytes(4).toString('hex')}.bin`), randomBytes(mib * 1024 * 1024));
}

describe('job monitoring', { concurrency: 1 }, () => {
  let c: Cluster;
  let admin: Login;
  const root = tempDir('cairn-monitor-src-');
  const big = join(root, 'big');
  const daemons: Daemon[] = [];

  /** A user with its own login and an agent it enrolled (so the agent is its own). */
  async function userWithAgent(name: string, agent: string): Promise<{ env: Record<string, string>; login: Login }> {
    const u = await newUserWithAgent(c, root, name, agent, ENV);
    daemons.push(u.agent);
    return u;
  }

  before(async () => {
    c = await startCluster({ agents: ['mon1'], storages: ['mons'], env: ENV });
    admin = JSON.parse(readFileSync(join(dirname(c.serverDir), 'cli.json'), 'utf8')) as Login;
    addRandom(big, 10);
    // 2 MiB/s: each backup of 8 to 10 new MiB lasts 4 to 5 s
    const job = await c.cli(['job', 'create', 'big', '--agent', 'mon1', '--storage', 'mons', '--path', big, '--bwlimit', '2M'], undefined, PASSPHRASE);
    assert.equal(job.code, 0, job.stderr);
  });
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await c?.stop();
  });

  it('a console on the stream sees a backup progress every second or so, its phases in order, then its end; run show has the live fields; a late joiner gets the last progress at once', async () => {
    const watcher = await Watcher.open(admin);
    const queued = await c.json<RunJson>(['job', 'run', 'big']);
    await pollUntil('the first progress of the run', () => watcher.of('progress', queued.id).length > 0);
    const shown = await c.json<RunJson>(['run', 'show', String(queued.id)]);
    assert.equal(shown.status, 'running');
    assert.ok(BACKUP_PHASES.includes(shown.phase!), JSON.stringify(shown));
    for (const k of ['filesScanned', 'bytesScanned', 'filesRead', 'bytesRead', 'bytesNew', 'bytesSent', 'rateBytesPerSec'] as const) assert.equal(typeof shown[k], 'number', k);
    assert.ok('etaSeconds' in shown && 'currentPath' in shown);
    const late = await Watcher.open(admin);
    await pollUntil('the late joiner hears something', () => late.seen.length > 0);
    const first = late.seen[0]!;
    const ended = await endedRun(c, queued.id);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    await pollUntil('the end on the stream', () => watcher.of('run', queued.id).some((s) => (s.event.data as RunJson).status === 'succeeded'));
    watcher.close();
    late.close();

    // the late joiner (the run was still going): the run's last progress came first, at once, not a second later
    assert.ok(Date.parse(ended.endedAt!) > late.openedAt);
    assert.equal(first.event.type, 'progress', JSON.stringify(first.event));
    assert.equal((first.event.data as { id: number }).id, queued.id);
    assert.ok(first.at - late.openedAt < 250, `replayed after ${first.at - late.openedAt} ms`);

    const progress = watcher.of('progress', queued.id).map((s) => ({ at: s.at, p: s.event.data as Required<RunJson> }));
    const end = watcher.of('run', queued.id).find((s) => (s.event.data as RunJson).status === 'succeeded')!;
    assert.ok(progress.length >= 3, `${progress.length} progress events`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.at - progress[i - 1]!.at <= 2000, `a gap of ${progress[i]!.at - progress[i - 1]!.at} ms`);
    assert.ok(end.at >= progress.at(-1)!.at, 'the end comes after the last progress');
    const phases = progress.map((x) => x.p.phase).filter((p, i, all) => p !== all[i - 1]);
    assert.deepEqual(phases, BACKUP_PHASES, 'every phase, in order');
    // the counters only rise, and each rises over the run
    for (const k of ['bytesScanned', 'bytesRead', 'bytesNew', 'bytesSent', 'filesScanned'] as const) {
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.p[k] >= progress[i - 1]!.p[k], `${k} fell`);
      assert.ok(progress.at(-1)!.p[k] > progress[0]!.p[k], `${k} did not rise`);
    }
    const uploading = progress.filter((x) => x.p.phase === 'uploading');
    assert.ok(uploading.length >= 2, 'the paced upload reported as it went');
    assert.ok(uploading.some((x) => x.p.rateBytesPerSec > 1024 * 1024 && x.p.etaSeconds !== null), JSON.stringify(uploading.map((x) => x.p)));
    assert.ok(progress.at(-1)!.p.bytesSent >= 10 * 1024 * 1024);
    // an ended run carries no live fields
    assert.equal((end.event.data as RunJson).phase, undefined);
  });

  it('a user on the unfiltered stream sees its own runs and agents, never another owner\'s', async () => {
    const alice = await userWithAgent('alice', 'ali');
    const bob = await userWithAgent('bob', 'bobag');
    const aw = await Watcher.open(alice.login);
    const bw = await Watcher.open(bob.login);
    const all = await Watcher.open(admin);
    const runs: Record<string, number> = {};
    for (const [who, u, agent] of [['alice', alice, 'ali'], ['bob', bob, 'bobag']] as const) {
      const dir = join(root, who);
      addRandom(dir, 1);
      const job = await c.cli(['job', 'create', `${who}-job`, '--agent', agent, '--storage', 'mons', '--path', dir, '--bwlimit', '1M'], undefined, { ...u.env, ...PASSPHRASE });
      assert.equal(job.code, 0, job.stderr);
      const run = await c.cli(['job', 'run', `${who}-job`, '--json'], undefined, u.env);
      assert.equal(run.code, 0, run.stderr);
      runs[who] = (JSON.parse(run.stdout) as RunJson).id;
    }
    const other = await c.json<RunJson>(['job', 'run', 'big']); // the admin's own run, meanwhile
    for (const id of [...Object.values(runs), other.id]) assert.equal((await endedRun(c, id)).status, 'succeeded');
    await pollUntil('the ends on the users\' streams', () => aw.of('run', runs.alice).length > 0 && bw.of('run', runs.bob).length > 0);
    // bob's agent goes offline and comes back: a part event every stream is offered
    const bobAgent = daemons.pop()!;
    await bobAgent.stop();
    const offline = (w: Watcher) => w.of('part').some((s) => (s.event.data as { name: string; status: string }).name === 'bobag' && (s.event.data as { status: string }).status === 'offline');
    await pollUntil('bob\'s agent offline on the admin\'s and bob\'s streams', () => offline(all) && offline(bw));
    daemons.push(await startDaemon('agent bobag', bobAgent.dataDir, ['agent', 'start', '--data', bobAgent.dataDir], ENV));
    await c.waitOnline('agent', 'bobag');
    for (const w of [aw, bw, all]) w.close();
    assert.ok(!offline(aw), 'alice never hears of bob\'s agent');

    for (const [w, own, agent] of [[aw, runs.alice!, 'ali'], [bw, runs.bob!, 'bobag']] as const) {
      // runs, progress and log lines (which name their run as `run`)
      const ids = new Set(w.seen.filter((s) => s.event.type !== 'part').map((s) => (s.event.data as { id?: number; run?: number }).id ?? (s.event.data as { run?: number }).run));
      assert.deepEqual([...ids], [own], 'only its own run');
      assert.ok(w.of('log', own).length > 0, 'its own log lines');
      assert.ok(w.of('progress', own).length > 0, 'its own progress');
      assert.ok(w.of('run', own).some((s) => (s.event.data as RunJson).status === 'succeeded'), 'its own end');
      const parts = w.of('part').map((s) => s.event.data as { kind: string; name: string });
      for (const p of parts) assert.ok(p.kind === 'storage' || p.name === agent, `saw ${p.kind} ${p.name}`);
    }
    // the admin sees everything
    for (const id of [...Object.values(runs), other.id]) assert.ok(all.of('run', id).length > 0);
    // a user asking for another owner's run is told there is none; a bad run id is refused
    await assert.rejects(Watcher.open(alice.login, `?run=${runs.bob}`), /HTTP 404/);
    for (const bad of ['abc', '0', '-1', '1e3']) await assert.rejects(Watcher.open(admin, `?run=${bad}`), /HTTP 404/);
    const watchOther = await c.cli(['run', 'watch', String(runs.bob)], undefined, alice.env);
    assert.equal(watchOther.code, 1);
    assert.equal(watchOther.stderr.trim(), `cairn: no run ${runs.bob}`);
    const watchBad = await c.cli(['run', 'watch', 'abc'], undefined, alice.env);
    assert.equal(watchBad.code, 2);
    assert.match(watchBad.stderr, /not a run id: abc/);
  });

  it('the run log holds the agent\'s lines, as {time, level, part, message}, capped with a count of the lines not kept', async () => {
    const dir = join(root, 'many');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 30; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`);
    const job = await c.cli(['job', 'create', 'many', '--agent', 'mon1', '--storage', 'mons', '--path', dir, '--max-file-size', '1'], undefined, PASSPHRASE);
    assert.equal(job.code, 0, job.stderr);
    const run = await c.json<RunJson>(['job', 'run', 'many']);
    await endedRun(c, run.id);
    const lines = await c.json<{ time: string; level: string; part: string; message: string }[]>(['run', 'log', String(run.id)]);
    for (const l of lines) {
      assert.deepEqual(Object.keys(l), ['time', 'level', 'part', 'message']);
      assert.ok(['info', 'warn', 'error'].includes(l.level));
      assert.ok(!Number.isNaN(Date.parse(l.time)));
    }
    assert.ok(lines.some((l) => l.part === 'server'));
    const agent = lines.filter((l) => l.part !== 'server');
    assert.ok(agent.every((l) => l.part === 'agent:mon1'), JSON.stringify(agent));
    assert.ok(agent.some((l) => /skipped \(larger than --max-file-size\): .*f\d+\.txt$/.test(l.message)));
    assert.equal(agent.length, LOG_CAP, 'the parts\' lines stop at the cap');
    // 31 lines (a count, then one per file): the cap less one kept, the rest counted in the last
    assert.equal(agent.at(-1)!.message, `${31 - (LOG_CAP - 1)} more lines not kept`);
    // in order: the agent's lines before the server's line recording the end
    assert.equal(lines.at(-1)!.part, 'server');
    assert.match(lines.at(-1)!.message, /^(succeeded|failed)/);
  });

  it('a gc reports its phases and the storage server\'s lines reach its run log', async () => {
    const watcher = await Watcher.open(admin);
    const gc = await c.cli(['gc', '--storage', 'mons', '--wait', '--json']);
    assert.equal(gc.code, 0, gc.stderr);
    const run = JSON.parse(gc.stdout) as RunJson;
    await pollUntil('the gc\'s end on the stream', () => watcher.of('run', run.id).some((s) => (s.event.data as RunJson).status === 'succeeded'));
    watcher.close();
    const phases = watcher.of('progress', run.id).map((s) => (s.event.data as RunJson).phase);
    assert.ok(phases.includes('marking') && phases.includes('sweeping'), JSON.stringify(phases));
    assert.ok(phases.indexOf('marking') < phases.indexOf('sweeping'));
    const lines = await c.json<{ part: string; message: string }[]>(['run', 'log', String(run.id)]);
    assert.ok(lines.some((l) => l.part === 'storage:mons' && /^vault \S+: \d+ chunks, \d+ bytes freed$/.test(l.message)), JSON.stringify(lines));
    assert.match(lines.at(-1)!.message, /^succeeded: /, 'the server\'s end line last');
  });

  it('a restore and a verify report their phases in order; a verify\'s ETA reaches 0 once the snapshot\'s size is checked', async () => {
    const watcher = await Watcher.open(admin);
    const [backup] = await c.json<RunJson[]>(['run', 'list', '--job', 'big', '--status', 'succeeded', '--limit', '1']);
    const snapshot = backup!.snapshot!;
    const restored = await c.cli(['restore', snapshot, '--to', join(root, 'restored'), '--wait', '--json'], undefined, PASSPHRASE);
    assert.equal(restored.code, 0, restored.stderr);
    const verified = await c.cli(['verify', snapshot, '--level', 'data', '--wait', '--json'], undefined, PASSPHRASE);
    assert.equal(verified.code, 0, verified.stderr);
    const [restore, verify] = [JSON.parse(restored.stdout) as RunJson, JSON.parse(verified.stdout) as RunJson];
    await pollUntil('both ends on the stream', () => watcher.of('run', verify.id).some((s) => (s.event.data as RunJson).status === 'succeeded'));
    watcher.close();
    const phases = (id: number) => watcher.of('progress', id).map((s) => (s.event.data as RunJson).phase).filter((p, i, all) => p !== all[i - 1]);
    assert.deepEqual(phases(restore.id), ['planning', 'restoring', 'finishing']);
    assert.deepEqual(phases(verify.id), ['checking']);
    const last = watcher.of('progress', verify.id).at(-1)!.event.data as RunJson;
    assert.equal(last.etaSeconds, 0, 'all of the snapshot checked');
  });

  it('job run --wait and run watch follow the stream: the end printed as before, the run read twice, no polling', async () => {
    const requests = join(root, 'requests.log');
    const env = { CAIRN_TEST: '1', CAIRN_TEST_REQUEST_LOG_FILE: requests };
    addRandom(big, 6);
    const started = Date.now();
    const waited = await c.cli(['job', 'run', 'big', '--wait'], undefined, env);
    assert.equal(waited.code, 0, waited.stderr);
    assert.ok(Date.now() - started > 2000, 'the run lasted long enough for polling to show');
    const id = Number(/^run (\d+) succeeded: backup of job big \(incremental\), /.exec(waited.stdout)?.[1]);
    assert.ok(id > 0, waited.stdout);
    let asked = readFileSync(requests, 'utf8').trim().split('\n');
    assert.equal(asked.filter((l) => l === `GET /api/runs/${id}`).length, 2, asked.join('\n'));
    assert.deepEqual(asked.filter((l) => l.startsWith('GET /api/events')), [`GET /api/events?run=${id}`]);

    writeFileSync(requests, '');
    addRandom(big, 6);
    const queued = await c.json<RunJson>(['job', 'run', 'big']);
    const watched = await c.cli(['run', 'watch', String(queued.id)], undefined, env);
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`^run ${queued.id} succeeded: backup of job big \\(incremental\\), `));
    asked = readFileSync(requests, 'utf8').trim().split('\n');
    assert.ok(asked.filter((l) => l === `GET /api/runs/${queued.id}`).length <= 3, asked.join('\n'));
    assert.deepEqual(asked.filter((l) => l.startsWith('GET /api/events')), [`GET /api/events?run=${queued.id}`]);

    // a failed run still exits 1 with its reason, from the stream
    const gone = await c.cli(['run', 'watch', '999999'], undefined, env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no run 999999/);
  });

  it('run watch outlives a server restart: it opens the stream again and prints the end', async () => {
    addRandom(big, 8);
    const requests = join(root, 'restart-requests.log');
    const queued = await c.json<RunJson>(['job', 'run', 'big']);
    const watching = c.cli(['run', 'watch', String(queued.id)], undefined, { CAIRN_TEST: '1', CAIRN_TEST_REQUEST_LOG_FILE: requests });
    await pollUntil('the watch on the stream', () => existsSync(requests) && readFileSync(requests, 'utf8').includes('GET /api/events'));
    await c.restartServer();
    const watched = await watching;
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`^run ${queued.id} succeeded: backup of job big`));
    const opened = readFileSync(requests, 'utf8').split('\n').filter((l) => l === `GET /api/events?run=${queued.id}`);
    assert.ok(opened.length >= 2, 'the stream was opened again');
  });
});

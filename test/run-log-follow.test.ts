// A run's log on the event stream (issue 14, "log following live"), on real processes: `run log
// --follow` prints every line once and in order, exactly what `run log` prints afterwards, from
// one stream request and no polling, and opens the stream again from its last line after a server
// restart; a `user`'s unfiltered stream carries its own runs' lines and no other owner's; a run's
// stream replays the lines after `after` (or Last-Event-ID) and ends with `log-end`; bad
// positions are refused with nothing changed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { runCairn } from './support/cli.ts';
import { type Cluster, type Daemon, startCluster, tempDir } from './support/cluster.ts';
import { endedRun, pollUntil } from './support/crash-support.ts';
import { type Login, Watcher } from './support/event-watcher.ts';
import { catalogState, errorOf, rawApi } from './support/raw-api.ts';
import { userWithAgent } from './support/user-agent.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'run log test passphrase' };
const ENV = { CAIRN_TEST: '1' };
type Line = { time: string; level: string; part: string; message: string };
type LogEvent = Line & { run: number; seq: number };

/** `mib` new files of 1 MiB of random bytes, and a few files too large for the job (each one an agent's warning line). */
function addData(dir: string, mib: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < mib; i++) writeFileSync(join(dir, `new-${randomBytes(4).toString('hex')}.bin`), randomBytes(1024 * 1024));
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `big-${randomBytes(4).toString('hex')}.txt`), Buffer.alloc(1200 * 1024));
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('run log on the event stream', { concurrency: 1 }, () => {
  let c: Cluster;
  let admin: Login;
  const root = tempDir('cairn-runlog-');
  const data = join(root, 'data');
  const daemons: Daemon[] = [];

  before(async () => {
    c = await startCluster({ agents: ['la1'], storages: ['ls1'], env: ENV });
    admin = JSON.parse(readFileSync(join(dirname(c.serverDir), 'cli.json'), 'utf8')) as Login;
    // 2 MiB/s: a backup of 6 new MiB lasts about 3 s; files over 1,100 KiB are skipped with a warning line each
    const job = await c.cli(['job', 'create', 'logs', '--agent', 'la1', '--storage', 'ls1', '--path', data, '--bwlimit', '2M', '--max-file-size', '1100K'], undefined, PASSPHRASE);
    assert.equal(job.code, 0, job.stderr);
  });
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await c?.stop();
  });

  /** `run log ID --follow` started now (text, or --json), with its requests logged to a file. */
  function follow(id: number, requests: string, json = false) {
    return c.cli(['run', 'log', String(id), '--follow', ...(json ? ['--json'] : [])], undefined, { CAIRN_TEST: '1', CAIRN_TEST_REQUEST_LOG_FILE: requests });
  }

  it('run log --follow prints every line once, in order, as run log does afterwards, from one stream request and no polling', async () => {
    addData(data, 6);
    const requests = join(root, 'follow-requests.log');
    const queued = await c.json<RunJson>(['job', 'run', 'logs']);
    const following = follow(queued.id, requests);
    const jsonRequests = join(root, 'follow-json-requests.log');
    const followingJson = follow(queued.id, jsonRequests, true);
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    // it ended with the log: the run had ended, and its last line (the server's end line) is there
    assert.equal((await c.json<RunJson>(['run', 'show', String(queued.id)])).status, 'succeeded');
    const plain = await c.cli(['run', 'log', String(queued.id)]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(followed.stdout, plain.stdout, 'the same lines, each once, in the same order');
    const printed = lines(followed.stdout);
    assert.ok(printed.some((l) => / \[agent:la1\] .*larger than --max-file-size/.test(l)), followed.stdout);
    assert.match(printed.at(-1)!, /Z succeeded: snapshot /);
    assert.deepEqual(lines(readFileSync(requests, 'utf8')), [`GET /api/events?run=${queued.id}&after=0`], 'one stream, no polling');

    const json = await followingJson;
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), await c.json<Line[]>(['run', 'log', String(queued.id)]));
    assert.deepEqual(lines(readFileSync(jsonRequests, 'utf8')), [`GET /api/events?run=${queued.id}&after=0`]);

    // an ended run: its whole log at once, and the command ends
    const again = await follow(queued.id, join(root, 'again.log'));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, plain.stdout);
  });

  it('run log --follow outlives a server restart: it opens the stream again after its last line and prints no line twice', async () => {
    addData(data, 8);
    const requests = join(root, 'restart-requests.log');
    const queued = await c.json<RunJson>(['job', 'run', 'logs']);
    // restarted once the command has printed the run's first lines (the agent's go on meanwhile)
    let printedSoFar = '';
    const env = { CAIRN_CONFIG: join(dirname(c.serverDir), 'cli.json'), CAIRN_TEST: '1', CAIRN_TEST_REQUEST_LOG_FILE: requests };
    const following = runCairn(['run', 'log', String(queued.id), '--follow'], env, undefined, (t) => (printedSoFar += t));
    await pollUntil('the first lines printed', () => / started on agent la1 /.test(printedSoFar));
    await c.restartServer();
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal((await endedRun(c, queued.id)).status, 'succeeded');
    const plain = await c.cli(['run', 'log', String(queued.id)]);
    assert.equal(followed.stdout, plain.stdout, 'the same lines, each once, in the same order');
    assert.ok(lines(followed.stdout).some((l) => / the backup server restarted; waiting for the agent/.test(l)), followed.stdout);
    const asked = lines(readFileSync(requests, 'utf8'));
    assert.ok(asked.length >= 2, `the stream was opened again: ${asked.join(', ')}`);
    assert.ok(asked.every((l) => l.startsWith(`GET /api/events?run=${queued.id}&after=`)), asked.join('\n'));
    assert.equal(asked[0], `GET /api/events?run=${queued.id}&after=0`);
    assert.ok(Number(/after=(\d+)$/.exec(asked.at(-1)!)![1]) > 0, 'reopened after the lines it had');
  });

  it("a user's unfiltered stream carries its own runs' lines, each once, and no other owner's", async () => {
    const alice = await userWithAgent(c, root, 'alice', 'lali', ENV);
    daemons.push(alice.agent);
    const aliceData = join(root, 'alice');
    addData(aliceData, 1);
    const job = await c.cli(['job', 'create', 'alice-job', '--agent', 'lali', '--storage', 'ls1', '--path', aliceData, '--max-file-size', '1100K'], undefined, { ...alice.env, ...PASSPHRASE });
    assert.equal(job.code, 0, job.stderr);
    const aw = await Watcher.open(alice.login);
    const all = await Watcher.open(admin);
    const mine = JSON.parse((await c.cli(['job', 'run', 'alice-job', '--json'], undefined, alice.env)).stdout) as RunJson;
    addData(data, 1);
    const other = await c.json<RunJson>(['job', 'run', 'logs']);
    for (const id of [mine.id, other.id]) assert.equal((await endedRun(c, id)).status, 'succeeded');
    await pollUntil('both logs ended on the admin\'s stream', () => all.of('log-end', mine.id).length > 0 && all.of('log-end', other.id).length > 0);
    await pollUntil('alice\'s log ended on her stream', () => aw.of('log-end', mine.id).length > 0);
    aw.close();
    all.close();
    const logOf = (w: Watcher, id: number) => w.of('log', id).map((s) => s.event.data as LogEvent);
    assert.deepEqual(aw.of('log').map((s) => (s.event.data as LogEvent).run).filter((r) => r !== mine.id), [], 'no other owner\'s line');
    assert.deepEqual(aw.of('log-end').map((s) => (s.event.data as LogEvent).run), [mine.id]);
    const hers = logOf(aw, mine.id);
    assert.deepEqual(hers.map((l) => l.seq), Array.from({ length: hers.length }, (_, i) => i + 1), 'every line once, numbered in order');
    const stored = await c.json<Line[]>(['run', 'log', String(mine.id)]);
    assert.deepEqual(hers.map(({ time, level, part, message }) => ({ time, level, part, message })), stored);
    assert.ok(hers.some((l) => l.part === 'agent:lali'));
    // the admin sees both runs' lines
    assert.equal(logOf(all, other.id).length, (await c.json<Line[]>(['run', 'log', String(other.id)])).length);
    assert.equal(logOf(all, mine.id).length, stored.length);
    // another owner's run is not there for her, on the stream or with --follow
    await assert.rejects(Watcher.open(alice.login, `?run=${other.id}&after=0`), /HTTP 404/);
    const theirs = await c.cli(['run', 'log', String(other.id), '--follow'], undefined, alice.env);
    assert.equal(theirs.code, 1);
    assert.equal(theirs.stderr.trim(), `cairn: no run ${other.id}`);
  });

  it('a queued run whose agent is removed ends its log: run log --follow ends with the reason', async () => {
    const gone = await c.addAgent('lgone');
    const job = await c.cli(['job', 'create', 'orphan', '--agent', 'lgone', '--storage', 'ls1', '--path', data], undefined, PASSPHRASE);
    assert.equal(job.code, 0, job.stderr);
    await gone.stop();
    await pollUntil('the agent offline', async () => (await c.json<{ name: string; status: string }[]>(['agent', 'list'])).some((a) => a.name === 'lgone' && a.status === 'offline'));
    const queued = await c.json<RunJson>(['job', 'run', 'orphan']);
    assert.equal(queued.status, 'queued');
    let printed = '';
    const following = runCairn(['run', 'log', String(queued.id), '--follow'], { CAIRN_CONFIG: join(dirname(c.serverDir), 'cli.json') }, undefined, (t) => (printed += t));
    await pollUntil('the follower has the run\'s first line', () => printed.length > 0);
    const removed = await c.cli(['agent', 'remove', 'lgone']);
    assert.equal(removed.code, 0, removed.stderr);
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(lines(followed.stdout).at(-1)!, /failed: agent lgone was removed$/);
    const run = await c.json<RunJson>(['run', 'show', String(queued.id)]);
    assert.equal(run.status, 'failed');
    assert.equal(followed.stdout, (await c.cli(['run', 'log', String(queued.id)])).stdout);
  });

  it("a run's stream replays the lines after `after` or Last-Event-ID, then log-end; bad positions are refused and change nothing", async () => {
    const [run] = await c.json<RunJson[]>(['run', 'list', '--job', 'logs', '--status', 'succeeded', '--limit', '1']);
    const stored = await c.json<Line[]>(['run', 'log', String(run!.id)]);
    assert.ok(stored.length > 4);
    const replayed = async (query: string, headers: Record<string, string> = {}) => {
      const w = await Watcher.open(admin, query, headers);
      await pollUntil('the log end', () => w.of('log-end').length > 0);
      w.close();
      return w.seen.filter((s) => s.event.type.startsWith('log')).map((s) => [s.event.type, (s.event.data as LogEvent).seq]);
    };
    const tail = (from: number) => [...stored.slice(from).map((_, i) => ['log', from + i + 1]), ['log-end', stored.length]];
    assert.deepEqual(await replayed(`?run=${run!.id}`), tail(0));
    assert.deepEqual(await replayed(`?run=${run!.id}&after=3`), tail(3));
    assert.deepEqual(await replayed(`?run=${run!.id}&after=0`, { 'last-event-id': '2' }), tail(2), 'a reconnecting browser: its last id wins');
    assert.deepEqual(await replayed(`?run=${run!.id}&after=${stored.length + 5}`), [['log-end', stored.length]]);

    const api = rawApi(c);
    const before = await catalogState(api);
    for (const [query, headers, message] of [
      [`?run=${run!.id}&after=abc`, {}, /^after must be a log line number, 0 or more \(got abc\)$/],
      [`?run=${run!.id}&after=-1`, {}, /^after must be a log line number/],
      [`?run=${run!.id}`, { 'last-event-id': 'x' }, /^Last-Event-ID must be a log line number/],
      ['?after=3', {}, /^after needs run/],
    ] as const) {
      const answer = await api.call(`/api/events${query}`, { headers });
      assert.equal(answer.status, 400, `${query}: ${answer.text}`);
      assert.equal(errorOf(answer).code, 'E_BAD_REQUEST');
      assert.match(errorOf(answer).message!, message);
    }
    assert.deepEqual(await catalogState(api), before, 'nothing stored changed');
    const bad = await c.cli(['run', 'log', 'abc', '--follow']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a run id: abc/);
    const gone = await c.cli(['run', 'log', '999999', '--follow']);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr.trim(), 'cairn: no run 999999');
  });
});

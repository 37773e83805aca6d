// Network monitoring on the real processes (heartbeats every 250 ms, minute buckets of 500 ms):
// heartbeats alone write nothing to net_history; a killed storage server is offline within 3
// heartbeats with its lastSeen the last heartbeat and a new `since`, and online again after a
// restart; `net history` serves the downsampled samples and old ones are pruned when the clock
// moves on; a backup and a restore record their throughput; `net test` measures a positive
// throughput and RTT and leaves the storage server's disk as it was, and refuses bad input;
// `status --json` has SPEC's shape with a failed run listed; `agent list` shows the key's fingerprint.
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { NetSampleJson, NetStatusJson, NetTestJson, PartJson, RunJson, StatusJson, ThroughputJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { incompressibleTree, pollUntil } from './support/crash-support.ts';
import { rawApi, type RawApi } from './support/raw-api.ts';
import { TestClock } from './support/test-clock.ts';

const HEARTBEAT_MS = 250;
const BUCKET_MS = 500;
const PASSPHRASE = { CAIRN_PASSPHRASE: 'net monitoring passphrase' };
const MiB = 1024 * 1024;

/** Bytes of every file under `dir`, by path (what a storage server keeps on disk). */
function diskUse(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) out.set(join(e.parentPath, e.name), statSync(join(e.parentPath, e.name)).size);
  return out;
}

describe('network monitoring', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  const clock = new TestClock();

  before(async () => {
    c = await startCluster({
      agents: ['a1'],
      storages: ['s1'],
      env: { ...clock.env(), CAIRN_TEST_HEARTBEAT_MS: String(HEARTBEAT_MS), CAIRN_TEST_NET_BUCKET_MS: String(BUCKET_MS) },
    });
    api = rawApi(c);
  });
  after(async () => {
    await c?.stop();
  });

  /** The catalog as it is on disk now (read-only, beside the running server; WAL readers see committed rows). */
  function catalog<T>(sql: string, ...params: (string | number)[]): T[] {
    const db = new DatabaseSync(join(c.serverDir, 'catalog.db'), { readOnly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  async function get<T>(path: string): Promise<T> {
    const a = await api.call(path);
    assert.equal(a.status, 200, `${path}: ${a.text}`);
    return a.json as T;
  }

  async function netPart(kind: 'agent' | 'storage', name: string): Promise<NetStatusJson> {
    const p = (await get<NetStatusJson[]>('/api/net/status')).find((x) => x.kind === kind && x.name === name);
    assert.ok(p, `${kind} ${name} in net status`);
    return p;
  }

  it('heartbeats alone write nothing to net_history, while lastSeen follows them', async () => {
    const rows = () => catalog<{ n: number }>('SELECT COUNT(*) AS n FROM net_history')[0]!.n;
    const first = await netPart('storage', 's1');
    const before = rows();
    await sleep(HEARTBEAT_MS * 8);
    assert.equal(rows(), before, 'no net_history row for 8 heartbeats');
    const later = await netPart('storage', 's1');
    assert.ok(Date.parse(later.lastSeen!) > Date.parse(first.lastSeen!), `lastSeen moved on: ${first.lastSeen} → ${later.lastSeen}`);
    assert.equal(later.status, 'online');
    assert.equal(typeof later.rttMs, 'number');
    assert.ok(later.rttP50Ms !== null && later.rttP99Ms !== null && later.rttP99Ms >= later.rttP50Ms, JSON.stringify(later));
    // the CLI prints the same items
    const cli = await c.json<NetStatusJson[]>(['net', 'status']);
    assert.deepEqual(Object.keys(cli[0]!).sort(), ['kind', 'lastSeen', 'name', 'rttMs', 'rttP50Ms', 'rttP99Ms', 'since', 'status']);
    assert.deepEqual(cli.map((p) => `${p.kind}:${p.name}`).sort(), ['agent:a1', 'storage:s1']);
  });

  it('a killed storage server is offline within 3 heartbeats, lastSeen its last heartbeat; online again after a restart', async () => {
    const online = await netPart('storage', 's1');
    assert.equal(online.status, 'online');
    const killedAt = Date.now();
    await c.storages.get('s1')!.stop('SIGKILL');
    await pollUntil('s1 offline', async () => (await netPart('storage', 's1')).status === 'offline', 500);
    const took = Date.now() - killedAt;
    assert.ok(took <= 3 * HEARTBEAT_MS, `offline after ${took} ms`);
    const offline = await netPart('storage', 's1');
    assert.ok(Date.parse(offline.since!) > Date.parse(online.since!), `since moved: ${online.since} → ${offline.since}`);
    assert.ok(Date.parse(offline.lastSeen!) <= killedAt + 50, `lastSeen ${offline.lastSeen} is a heartbeat before the kill, not now`);
    // long enough for a whole bucket offline
    await sleep(3 * BUCKET_MS);
    const still = await netPart('storage', 's1');
    assert.equal(still.lastSeen, offline.lastSeen, 'lastSeen stays the last heartbeat');
    const listed = (await get<PartJson[]>('/api/storages')).find((p) => p.name === 's1')!;
    assert.equal(listed.lastSeen, offline.lastSeen, 'storage list agrees');
    await c.restartStorage('s1');
    await c.waitOnline('storage', 's1');
    const back = await netPart('storage', 's1');
    assert.equal(back.status, 'online');
    assert.ok(Date.parse(back.since!) > Date.parse(offline.since!), `since moved again: ${back.since}`);
    const transitions = catalog<{ status: string }>("SELECT h.status FROM net_history h JOIN storages s ON s.id = h.part_id AND h.part_kind = 'storage' WHERE s.name = 's1' ORDER BY h.id");
    assert.deepEqual(transitions.slice(-2).map((t) => t.status), ['offline', 'online']);
  });

  it('net history serves per-bucket samples, offline ones included; bad parts are refused', async () => {
    await sleep(2 * BUCKET_MS); // the bucket of the restart has closed
    const samples = await c.json<NetSampleJson[]>(['net', 'history', 'storage:s1', '--since', '1h']);
    assert.ok(samples.length >= 4, `samples: ${samples.length}`);
    assert.deepEqual(Object.keys(samples[0]!).sort(), ['online', 'rttMs', 'rttP99Ms', 'time']);
    const times = samples.map((s) => Date.parse(s.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');
    assert.ok(samples.some((s) => s.online && s.rttMs !== null && s.rttP99Ms! >= s.rttMs), 'an online sample with its RTT');
    assert.ok(samples.some((s) => !s.online && s.rttMs === null), 'the bucket s1 was down for');
    const byApi = await get<NetSampleJson[]>('/api/net/history?part=agent:a1&since=1h');
    assert.ok(byApi.length > 0 && byApi.every((s) => s.online), 'a1 was online throughout');

    const bad = await c.cli(['net', 'history', 's1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /agent:NAME or storage:NAME/);
    const unknown = await c.cli(['net', 'history', 'storage:nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no storage named nope/);
    const since = await c.cli(['net', 'history', 'storage:s1', '--since', 'yesterday']);
    assert.equal(since.code, 2);
    assert.match(since.stderr, /--since: not a duration/);
  });

  let snapshot = '';

  it('a backup and a restore each record the throughput of the pair', async () => {
    const src = incompressibleTree(join(tempDir('cairn-net-src-'), 'data'), 2, 2);
    const r = await c.cli(['job', 'create', 'netjob', '--agent', 'a1', '--storage', 's1', '--path', src], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    const run = await c.json<RunJson>(['job', 'run', 'netjob', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    snapshot = run.snapshot!;
    const records = await get<ThroughputJson[]>('/api/net/throughput?agent=a1&storage=s1');
    const backup = records.find((t) => t.run === run.id);
    assert.ok(backup, JSON.stringify(records));
    assert.equal(backup.kind, 'backup');
    assert.ok(backup.bytes >= 4 * MiB, `bytes sent ${backup.bytes}`);
    assert.ok(backup.seconds > 0 && backup.bytesPerSec > 0, JSON.stringify(backup));
    assert.equal(backup.agent, 'a1');
    assert.equal(backup.storage, 's1');

    const to = tempDir('cairn-net-restore-');
    const restored = await c.json<RunJson>(['restore', snapshot, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    const after = await get<ThroughputJson[]>('/api/net/throughput?agent=a1');
    const restore = after.find((t) => t.run === restored.id);
    assert.ok(restore && restore.kind === 'restore' && restore.bytes >= 4 * MiB && restore.bytesPerSec > 0, JSON.stringify(after));
    const unknown = await api.call('/api/net/throughput?storage=nope');
    assert.equal(unknown.status, 404);
  });

  it('net test measures a positive throughput and RTT and leaves the storage server\'s disk as it was', async () => {
    const dir = c.storages.get('s1')!.dataDir;
    const before = diskUse(dir);
    const result = await c.json<NetTestJson>(['net', 'test', '--agent', 'a1', '--storage', 's1', '--size', '16M']);
    assert.deepEqual(Object.keys(result).sort(), ['bytes', 'rttMs', 'seconds', 'throughputBytesPerSec']);
    assert.equal(result.bytes, 16 * MiB);
    assert.ok(result.seconds > 0 && result.throughputBytesPerSec > 0 && result.rttMs > 0, JSON.stringify(result));
    assert.deepEqual(diskUse(dir), before, 'no file on the storage server changed');
    const records = await get<ThroughputJson[]>('/api/net/throughput?agent=a1&storage=s1');
    assert.equal(records[0]!.kind, 'nettest');
    assert.equal(records[0]!.bytes, 16 * MiB);
    assert.equal(records[0]!.run, null);
    const text = await c.cli(['net', 'test', '--agent', 'a1', '--storage', 's1', '--size', '1M']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^agent a1 → storage s1: 1\.0 MiB in \d+\.\d\d s, [\d.]+ MiB\/s; rtt [\d.]+ ms \(median of 5\)\n$/);
    assert.deepEqual(diskUse(dir), before);
  });

  it('net test refuses a size over 1G, an unknown agent or storage server and an offline one, recording nothing', async () => {
    await c.addStorage('s2');
    await c.storages.get('s2')!.stop();
    await pollUntil('s2 offline', async () => (await netPart('storage', 's2')).status === 'offline', 500);
    const count = async () => (await get<ThroughputJson[]>('/api/net/throughput')).length;
    const before = await count();
    const cases: [string[], number, RegExp][] = [
      [['--agent', 'a1', '--storage', 's1', '--size', '2G'], 2, /--size must be between 1 byte and 1G/],
      [['--agent', 'a1', '--storage', 's1', '--size', 'lots'], 2, /--size: not a size/],
      [['--storage', 's1'], 2, /--agent is required/],
      [['--agent', 'nope', '--storage', 's1'], 1, /no agent named nope/],
      [['--agent', 'a1', '--storage', 'nope'], 1, /no storage named nope/],
      [['--agent', 'a1', '--storage', 's2'], 1, /storage s2 is offline/],
    ];
    for (const [args, code, message] of cases) {
      const r = await c.cli(['net', 'test', ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    const tooBig = await api.call('/api/net/test', { body: { agent: 'a1', storage: 's1', bytes: 1024 * MiB + 1 } });
    assert.equal(tooBig.status, 400);
    assert.equal(await count(), before, 'nothing recorded');
  });

  it('status --json has the runs, parts, storage servers and the failed run', async () => {
    const r = await c.cli(['job', 'create', 'broken', '--agent', 'a1', '--storage', 's1', '--path', '/nonexistent/cairn-net-test'], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    const failed = await c.cli(['job', 'run', 'broken', '--wait', '--json']);
    assert.equal(failed.code, 1);
    const failedRun = JSON.parse(failed.stdout) as RunJson;
    assert.equal(failedRun.status, 'failed');
    const s = await c.json<StatusJson>(['status']);
    assert.deepEqual(Object.keys(s).sort(), ['failures', 'parts', 'queued', 'running', 'storage']);
    assert.deepEqual(s.running, []);
    assert.deepEqual(s.queued, []);
    assert.equal(s.failures[0]!.id, failedRun.id);
    assert.ok(s.failures.every((f) => f.status === 'failed'));
    assert.deepEqual(s.parts.map((p) => `${p.kind}:${p.name}`).sort(), ['agent:a1', 'storage:s1', 'storage:s2']);
    assert.deepEqual(s.storage.map((p) => p.name).sort(), ['s1', 's2']);
    const text = await c.cli(['status']);
    assert.equal(text.code, 0, text.stderr);
    for (const title of ['RUNNING (0)', 'QUEUED (0)', 'PARTS', 'STORAGE', 'FAILED IN THE LAST 24 H (1)']) assert.ok(text.stdout.includes(title), title);
    assert.ok(text.stdout.includes('broken'), text.stdout);
  });

  it('agent list shows the fingerprint of the agent\'s key-wrapping public key', async () => {
    const [agent] = await c.json<PartJson[]>(['agent', 'list']);
    const shown = await get<PartJson & { publicKey: string }>('/api/agents/a1');
    const expected = createHash('sha256').update(createPublicKey(shown.publicKey).export({ type: 'spki', format: 'der' })).digest('hex');
    assert.equal(agent!.keyFingerprint, expected);
  });

  it("a user sees its own agents and the storage servers, no other owner's agent, and may not run a net test", async () => {
    const added = await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], 'bob-password-for-tests\n');
    assert.equal(added.code, 0, added.stderr);
    const env = { CAIRN_CONFIG: join(tempDir('cairn-net-user-'), 'cli.json') };
    const login = await c.cli(['login', c.url, '--user', 'bob', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'bob-password-for-tests\n', env);
    assert.equal(login.code, 0, login.stderr);
    const asBob = async (args: string[]) => c.cli(args, undefined, env);
    const net = await asBob(['net', 'status', '--json']);
    assert.equal(net.code, 0, net.stderr);
    assert.deepEqual((JSON.parse(net.stdout) as NetStatusJson[]).map((p) => `${p.kind}:${p.name}`).sort(), ['storage:s1', 'storage:s2']);
    const status = JSON.parse((await asBob(['status', '--json'])).stdout) as StatusJson;
    assert.deepEqual(status.failures, [], "admin's failed run is not bob's");
    assert.ok(status.parts.every((p) => p.kind === 'storage'));
    const history = await asBob(['net', 'history', 'agent:a1']);
    assert.equal(history.code, 1);
    assert.match(history.stderr, /no agent named a1/);
    assert.equal((await asBob(['net', 'history', 'storage:s1', '--json'])).code, 0);
    const bobToken = (JSON.parse(readFileSync(env.CAIRN_CONFIG, 'utf8')) as { token: string }).token;
    const throughput = await api.call('/api/net/throughput', { token: bobToken });
    assert.deepEqual([throughput.status, throughput.json], [200, []], "admin's agent's transfers are not bob's");
    const test = await asBob(['net', 'test', '--agent', 'a1', '--storage', 's1', '--size', '1M']);
    assert.equal(test.code, 1);
    assert.match(test.stderr, /only an operator or admin may run a net test/);
  });

  it('after a server restart, an offline part keeps its last heartbeat as lastSeen and the history is still there', async () => {
    const s2 = await netPart('storage', 's2');
    assert.equal(s2.status, 'offline');
    const samples = (await get<NetSampleJson[]>('/api/net/history?part=storage:s1&since=1h')).length;
    await c.restartServer();
    await c.waitOnline('storage', 's1');
    const after = await netPart('storage', 's2');
    assert.equal(after.lastSeen, s2.lastSeen, 'the last heartbeat, not the shutdown or the restart');
    assert.equal(after.since, s2.since);
    assert.ok((await get<NetSampleJson[]>('/api/net/history?part=storage:s1&since=1h')).length >= samples);
  });

  it('samples older than their tier keeps are pruned as the clock moves on', async () => {
    const minute = () => catalog<{ n: number }>('SELECT COUNT(*) AS n FROM net_samples WHERE bucket_ms = ?', BUCKET_MS)[0]!.n;
    const hourly = () => catalog<{ n: number }>('SELECT COUNT(*) AS n FROM net_samples WHERE bucket_ms = ?', 60 * BUCKET_MS)[0]!.n;
    assert.ok(minute() > 0);
    const start = Date.now();
    // one "hour" (60 buckets) on: the open hour closes into an hourly sample; minutes are kept 24 "hours" (12 min here)
    clock.set(start + 2 * 24 * 60 * BUCKET_MS);
    await pollUntil('the old minute samples pruned', () => catalog<{ n: number }>('SELECT COUNT(*) AS n FROM net_samples WHERE bucket_ms = ? AND time < ?', BUCKET_MS, start)[0]!.n === 0, 500);
    assert.ok(hourly() > 0, 'hourly samples are kept longer');
    const history = await get<NetSampleJson[]>('/api/net/history?part=storage:s1&since=7d');
    assert.ok(history.some((s) => Date.parse(s.time) < start), 'the hourly samples still answer for the time before');
    // thirty "days" of hours on, they go too
    clock.set(start + 31 * 24 * 60 * BUCKET_MS);
    await pollUntil('the old hourly samples pruned', () => catalog<{ n: number }>('SELECT COUNT(*) AS n FROM net_samples WHERE time < ?', start)[0]!.n === 0, 500);
  });
});

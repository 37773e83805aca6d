// Prometheus metrics and storage figures on real processes: the server, a storage server and an
// agent started with `--metrics-listen 127.0.0.1:0` serve GET /metrics that Debian's `promtool
// check metrics` accepts after a backup; the figures move with it (bytes stored on the server and
// per vault on the storage server, bytes sent and read by the agent, the run counted); `storage
// list` and `vault list` show bytes stored (the pack files on disk), logical and the dedup ratio,
// and the disk space, with CAIRN_TEST_DISK_FREE_BYTES showing through. Bad addresses are refused
// (exit 2) and a taken port fails the start (exit 1) with nothing stored; a restart without the
// flag serves no metrics; `cairn up --metrics-listen H:P` serves the three at P, P+1 and P+2.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PartJson, RunJson, SnapshotJson, VaultJson } from '../src/protocol/api-types.ts';
import { runCairn } from './support/cli.ts';
import { type Cluster, type Daemon, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { packBytes, pollUntil } from './support/crash-support.ts';

const MiB = 1024 * 1024;
const DISK_FREE = 123_456_789;
const PASSPHRASE = { CAIRN_PASSPHRASE: 'metrics test passphrase' };

/** The URL a daemon printed in its `metrics listening on URL` line. */
async function metricsUrl(d: Daemon): Promise<string> {
  let url: string | undefined;
  await pollUntil(`${d.name}'s metrics line`, () => (url = /metrics listening on (\S+)/.exec(d.stdout())?.[1]) !== undefined);
  return url!;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one series (labels matched exactly, in any order), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(labels).sort())) return Number(m[3]);
  }
  return undefined;
}

/** `promtool check metrics` on the text (the test fails when promtool is missing: .ci/run installs it). */
function assertPromtoolAccepts(text: string, what: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.error, undefined, `promtool did not run (Debian package prometheus): ${r.error?.message}`);
  assert.equal(r.status, 0, `promtool check metrics refused the ${what}'s metrics:\n${r.stdout}${r.stderr}`);
}

/** A port taken by another listener for as long as the test needs it. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return { port: (server.address() as { port: number }).port, server };
}

/** Three consecutive free ports (bound and released at once). */
async function freePortRun(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const servers: Server[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = createServer();
        await new Promise<void>((res, rej) => {
          s.once('error', rej);
          s.listen(base + i, '127.0.0.1', () => res());
        });
        servers.push(s);
      }
      return base;
    } catch {
      // taken: try another run
    } finally {
      await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
    }
  }
  throw new Error('no three consecutive free ports');
}

describe('metrics and storage figures', { concurrency: 1 }, () => {
  let c: Cluster;
  let serverMetrics: string;
  let storageMetrics: string;
  let agentMetrics: string;
  let run: RunJson;
  const METRICS = ['--metrics-listen', '127.0.0.1:0'];

  before(async () => {
    c = await startCluster({
      env: { CAIRN_TEST: '1', CAIRN_TEST_DISK_FREE_BYTES: String(DISK_FREE), CAIRN_TEST_FIGURES_MS: '1000' },
      serverArgs: METRICS,
    });
    serverMetrics = await metricsUrl(c.server);
    storageMetrics = await metricsUrl(await c.addStorage('s1', METRICS));
    agentMetrics = await metricsUrl(await c.addAgent('a1', METRICS));
  });
  after(async () => {
    await c?.stop();
  });

  it('a storage server reports its disk space when it comes online, before any run', async () => {
    let s1: PartJson | undefined;
    await pollUntil('the figures of a storage server just online', async () => {
      s1 = (await c.json<PartJson[]>(['storage', 'list'])).find((p) => p.name === 's1');
      return s1?.diskFreeBytes !== null;
    });
    assert.equal(s1!.diskFreeBytes, DISK_FREE);
    assert.equal(s1!.bytesStored, 0, 'no vault yet: nothing stored');
    assert.equal(s1!.bytesLogical, 0);
    assert.equal(s1!.dedupRatio, null, 'no ratio over nothing stored');
  });

  it('after a backup, the three endpoints pass promtool and their figures moved with it', async () => {
    const storedBefore = sample(await scrape(serverMetrics), 'cairn_storage_bytes_stored', { storage: 's1' }) ?? 0;
    const src = join(tempDir('cairn-metrics-src-'), 'data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.bin'), randomBytes(3 * MiB));
    writeFileSync(join(src, 'b.txt'), 'some text\n'.repeat(10_000));
    const created = await c.cli(['job', 'create', 'home', '--agent', 'a1', '--storage', 's1', '--path', src], undefined, PASSPHRASE);
    assert.equal(created.code, 0, created.stderr);
    run = await c.json<RunJson>(['job', 'run', 'home', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));

    // the figures are refreshed once the run ended: poll for them
    let server = '';
    await pollUntil('the server to show the new bytes stored', async () => {
      server = await scrape(serverMetrics);
      return (sample(server, 'cairn_storage_bytes_stored', { storage: 's1' }) ?? 0) > storedBefore;
    });
    const onDisk = packBytes(c.storages.get('s1')!.dataDir, 'admin.s1');
    assert.equal(sample(server, 'cairn_storage_bytes_stored', { storage: 's1' }), onDisk, 'the pack bytes on disk');
    assert.equal(sample(server, 'cairn_runs', { kind: 'backup', status: 'succeeded' }), 1);
    assert.equal(sample(server, 'cairn_runs', { kind: 'gc', status: 'failed' }), 0, 'every kind and status is shown');
    assert.equal(sample(server, 'cairn_queue_length'), 0);
    assert.equal(sample(server, 'cairn_parts_online', { kind: 'agent' }), 1);
    assert.equal(sample(server, 'cairn_parts_online', { kind: 'storage' }), 1);
    assert.equal(sample(server, 'cairn_storage_disk_free_bytes', { storage: 's1' }), DISK_FREE);
    // labelled by the route's pattern, never the raw URL
    assert.ok((sample(server, 'cairn_api_request_duration_seconds_count', { method: 'GET', route: '/api/runs/:id', code: '200' }) ?? 0) >= 1, server);
    assert.doesNotMatch(server, new RegExp(`route="/api/runs/${run.id}"`));

    const storage = await scrape(storageMetrics);
    assert.equal(sample(storage, 'cairn_vault_bytes', { vault: 'admin.s1' }), onDisk);
    assert.ok((sample(storage, 'cairn_vault_packs', { vault: 'admin.s1' }) ?? 0) >= 1);
    assert.ok((sample(storage, 'cairn_storage_requests_total', { route: 'postPack', code: '201' }) ?? sample(storage, 'cairn_storage_requests_total', { route: 'postPack', code: '200' }) ?? 0) >= 1, storage);
    assert.equal(sample(storage, 'cairn_storage_disk_free_bytes'), DISK_FREE);
    assert.equal(sample(storage, 'cairn_scrub_last_damaged'), 0);
    assert.equal(sample(storage, 'cairn_gc_last_bytes_freed'), 0);

    const agent = await scrape(agentMetrics);
    assert.ok((sample(agent, 'cairn_agent_bytes_sent_total') ?? 0) >= onDisk, `bytes sent cover the packs stored: ${sample(agent, 'cairn_agent_bytes_sent_total')}`);
    assert.equal(sample(agent, 'cairn_agent_bytes_read_total'), run.bytesRead);
    assert.equal(sample(agent, 'cairn_agent_run_duration_seconds_count', { kind: 'backup', outcome: 'succeeded' }), 1);
    assert.equal(sample(agent, 'cairn_agent_runs_running'), 0);

    assertPromtoolAccepts(server, 'server');
    assertPromtoolAccepts(storage, 'storage server');
    assertPromtoolAccepts(agent, 'agent');
  });

  it('a scrub and a gc show their results on the storage server', async () => {
    const scrub = await c.json<{ damagedTotal: number }>(['vault', 'scrub', 'admin.s1']);
    assert.equal(scrub.damagedTotal, 0);
    const gc = await c.json<RunJson>(['gc', '--storage', 's1', '--wait']);
    assert.equal(gc.status, 'succeeded', JSON.stringify(gc));
    const storage = await scrape(storageMetrics);
    assert.ok((sample(storage, 'cairn_scrub_last_timestamp_seconds') ?? 0) > 0, 'the scrub is recorded');
    assert.ok((sample(storage, 'cairn_gc_last_timestamp_seconds') ?? 0) > 0, 'the gc is recorded');
    assert.equal(sample(storage, 'cairn_gc_last_bytes_freed'), gc.bytesFreed);
    assertPromtoolAccepts(storage, 'storage server');
  });

  it('storage list and vault list show bytes stored, logical, the dedup ratio and the disk space', async () => {
    const dir = c.storages.get('s1')!.dataDir;
    const snaps = await c.json<SnapshotJson[]>(['snapshot', 'list']);
    const logical = snaps.reduce((n, s) => n + s.bytes, 0);
    assert.ok(logical > 0);
    let s1: PartJson | undefined;
    await pollUntil('storage list to show the figures on disk', async () => {
      s1 = (await c.json<PartJson[]>(['storage', 'list'])).find((p) => p.name === 's1');
      return s1?.bytesStored === packBytes(dir, 'admin.s1');
    });
    assert.ok(s1!.bytesStored! > 0);
    assert.equal(s1!.bytesLogical, logical);
    assert.equal(s1!.dedupRatio, Math.round((logical / s1!.bytesStored!) * 100) / 100);
    assert.equal(s1!.diskFreeBytes, DISK_FREE, 'CAIRN_TEST_DISK_FREE_BYTES shows through');
    assert.ok(typeof s1!.diskTotalBytes === 'number' && s1!.diskTotalBytes > 0);
    const [vault] = await c.json<VaultJson[]>(['vault', 'list']);
    assert.equal(vault!.name, 'admin.s1');
    assert.equal(vault!.bytesStored, s1!.bytesStored);
    assert.equal(vault!.bytesLogical, logical);
    assert.equal(vault!.dedupRatio, s1!.dedupRatio);
    // agents carry no storage figures
    const [a1] = await c.json<PartJson[]>(['agent', 'list']);
    assert.equal(a1!.bytesStored, undefined);

    const table = await c.cli(['storage', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /STORED +LOGICAL +DEDUP +DISKFREE/);
    assert.match(table.stdout, /\d+(\.\d)? (KiB|MiB)/, 'sizes are readable');
    assert.match(table.stdout, /118 MiB of /, 'disk free of total');
    const vaults = await c.cli(['vault', 'list']);
    assert.match(vaults.stdout, /STORED +LOGICAL +DEDUP/);
    assert.match(vaults.stdout, /\d+(\.\d+)?x/);
  });

  it('--metrics-listen nonsense is refused (exit 2, one line) on every daemon, and nothing is stored', async () => {
    const fresh = join(tempDir('cairn-metrics-bad-'), 'never');
    const serverFiles = readdirSync(c.serverDir).sort();
    const cases: [string, string[]][] = [
      ['server start', ['server', 'start', '--data', c.serverDir, '--metrics-listen', 'nonsense']],
      ['storage start', ['storage', 'start', '--data', fresh, '--listen', '127.0.0.1:0', '--metrics-listen', 'nonsense']],
      ['agent start', ['agent', 'start', '--data', fresh, '--metrics-listen', 'nonsense']],
      ['up', ['up', '--data', fresh, '--metrics-listen', 'nonsense']],
      ['storage start', ['storage', 'start', '--data', fresh, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:99999']],
    ];
    for (const [cmd, args] of cases) {
      const r = await runCairn(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${cmd}: --metrics-listen: want HOST:PORT, got (nonsense|127\\.0\\.0\\.1:99999)`));
      assert.equal(r.stdout, '');
    }
    const high = await runCairn(['up', '--data', fresh, '--metrics-listen', '127.0.0.1:65534']);
    assert.equal(high.code, 2);
    assert.match(high.stderr, /PORT\+2 must be a port too/);
    assert.equal(existsSync(fresh), false, 'no data folder was made');
    assert.deepEqual(readdirSync(c.serverDir).sort(), serverFiles);
  });

  it('a taken port fails the start (exit 1, one line) before an enrollment spends the token', async () => {
    const taken = await takenPort();
    try {
      const dir = join(tempDir('cairn-metrics-busy-'), 'agent');
      const { token } = await c.json<{ token: string }>(['token', 'create', '--kind', 'agent']);
      const busy = await runCairn(['agent', 'start', '--data', dir, '--server', c.url, '--token', token, '--name', 'a2', '--metrics-listen', `127.0.0.1:${taken.port}`]);
      assert.equal(busy.code, 1, busy.stderr);
      assert.match(busy.stderr, new RegExp(`--metrics-listen: cannot listen on 127\\.0\\.0\\.1:${taken.port}: EADDRINUSE`));
      assert.equal(busy.stderr.trim().split('\n').length, 1, busy.stderr);
      assert.equal(existsSync(join(dir, 'agent.json')), false, 'not enrolled');
      assert.equal((await c.json<PartJson[]>(['agent', 'list'])).length, 1);
      // the token is still good
      const a2 = await startDaemon('agent a2', dir, ['agent', 'start', '--data', dir, '--server', c.url, '--token', token, '--name', 'a2'], { CAIRN_TOKEN: '' });
      await c.waitOnline('agent', 'a2');
      await a2.stop();

      const storageDir = join(tempDir('cairn-metrics-busy-'), 'storage');
      const storage = await runCairn(['storage', 'start', '--data', storageDir, '--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${taken.port}`]);
      assert.equal(storage.code, 1, storage.stderr);
      assert.match(storage.stderr, /--metrics-listen: cannot listen on .*EADDRINUSE/);
      assert.equal(existsSync(join(storageDir, 'storage.json')), false);
    } finally {
      await new Promise((res) => taken.server.close(res));
    }
  });

  it('a restart without --metrics-listen serves no metrics (the flag is not saved)', async () => {
    const d = await c.restartAgent('a1');
    await c.waitOnline('agent', 'a1');
    assert.doesNotMatch(d.stdout(), /metrics listening/);
    await assert.rejects(fetch(agentMetrics), 'the old endpoint is gone');
  });
});

it('cairn up --metrics-listen 127.0.0.1:P serves the server at P, the storage server at P+1, the agent at P+2', async () => {
  const root = tempDir('cairn-up-metrics-');
  const data = join(root, 'data');
  const env = { HOME: root, CAIRN_CONFIG: join(root, 'cli.json'), CAIRN_PASSPHRASE: '' };
  const port = await freePortRun();
  const up = await startDaemon('up', data, ['up', '--data', data, '--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${port}`], env);
  try {
    await pollUntil('the report', () => /metrics: /.test(up.stdout()));
    assert.match(up.stdout(), new RegExp(`metrics: http://127\\.0\\.0\\.1:${port}/metrics \\(server\\), http://127\\.0\\.0\\.1:${port + 1}/metrics \\(storage server\\), http://127\\.0\\.0\\.1:${port + 2}/metrics \\(agent\\)`));
    const names: [number, string, string][] = [
      [port, 'server', 'cairn_queue_length'],
      [port + 1, 'storage server', 'cairn_gc_last_bytes_freed'],
      [port + 2, 'agent', 'cairn_agent_bytes_sent_total'],
    ];
    for (const [p, what, name] of names) {
      const text = await scrape(`http://127.0.0.1:${p}/metrics`);
      assert.notEqual(sample(text, name), undefined, `${what} at ${p} serves ${name}`);
      assertPromtoolAccepts(text, what);
    }
    const other = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(other.status, 404);
  } finally {
    await up.stop();
  }
});

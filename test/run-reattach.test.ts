// Runs that survive, on the real processes: a backup failed by a storage-server kill is retried
// (a new run with its attempt and the first attempt's id) and succeeds, and `job run --wait`
// follows the attempts and prints the last; a 20 s cut of the agent's control connection
// (through a TCP proxy between agent and server) and a server SIGKILL + restart, each during a
// backup, leave the run running until its agent re-attaches it, and the backup succeeds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson, SnapshotJson } from '../src/protocol/api-types.ts';
import { CAIRN_BIN } from './support/storage-process.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { endedRun, incompressibleTree, pollUntil } from './support/crash-support.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'reattach test passphrase' };
const MiB = 1024 * 1024;

/** A TCP proxy to `target` that can cut every connection and refuse new ones for a while. */
class CuttingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #cutUntil = 0;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#server = createServer((client) => {
      if (Date.now() < this.#cutUntil) return client.destroy();
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.#server.address() as { port: number }).port;
    return `https://127.0.0.1:${this.port}`;
  }

  /** Drops every connection now and refuses new ones for `ms`. */
  cut(ms: number): void {
    this.#cutUntil = Date.now() + ms;
    for (const s of this.#sockets) s.destroy();
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

describe('runs that survive', { concurrency: 1 }, () => {
  let c: Cluster;
  let proxy: CuttingProxy;

  before(async () => {
    c = await startCluster({ storages: ['s1'], env: { CAIRN_TEST: '1', CAIRN_TEST_RETRY_BACKOFF_MS: '1000,2000,3000' } });
    const u = new URL(c.url);
    proxy = new CuttingProxy({ host: u.hostname, port: Number(u.port) });
    const proxied = await proxy.listen();
    await c.addAgent('a1', ['--server', proxied]);
  });
  after(async () => {
    await c?.stop();
    await proxy?.close();
  });

  async function job(name: string, mib: number, extra: string[]): Promise<string> {
    const src = incompressibleTree(join(tempDir('cairn-reattach-src-'), 'data'), 4, mib / 4);
    const r = await c.cli(['job', 'create', name, '--agent', 'a1', '--storage', 's1', '--path', src, ...extra], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    return src;
  }

  /** `cairn job run NAME --wait --json` in the background: its exit code and last run. */
  function runInBackground(name: string): Promise<{ code: number; run: RunJson; stderr: string }> {
    const child = spawn(CAIRN_BIN, ['job', 'run', name, '--wait', '--json'], { env: { ...process.env, CAIRN_CONFIG: join(c.serverDir, '..', 'cli.json') } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((res) => child.on('exit', (code) => res({ code: code ?? -1, run: JSON.parse(out || 'null') as RunJson, stderr: err })));
  }

  async function runningRun(name: string): Promise<RunJson> {
    let run: RunJson | undefined;
    await pollUntil(`a run of ${name} reading`, async () => {
      run = (await c.json<RunJson[]>(['run', 'list', '--job', name]))[0];
      return run?.status === 'running' && run.bytesRead > 0;
    });
    return run!;
  }

  it('a backup failed by a storage-server kill is retried and succeeds; job run --wait follows the attempts', async () => {
    await job('retried', 24, ['--bwlimit', '4M']);
    const waiting = runInBackground('retried');
    const first = await runningRun('retried');
    await c.storages.get('s1')!.stop('SIGKILL');
    const failed = await endedRun(c, first.id);
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /^storage server s1 /);
    await c.restartStorage('s1');
    const { code, run, stderr } = await waiting;
    assert.equal(code, 0, stderr);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.attempt, 2);
    assert.equal(run.retryOf, first.id);
    assert.match(stderr, new RegExp(`run ${first.id} failed .*following its retry, run ${run.id}`));
    const shown = await c.json<RunJson>(['run', 'show', String(first.id)]);
    assert.equal(shown.nextAttempt, run.id);
    const log = await c.json<{ message: string }[]>(['run', 'log', String(first.id)]);
    assert.ok(log.some((l) => l.message.startsWith(`retry 1 of 2 queued as run ${run.id}`)), JSON.stringify(log));
  });

  it('a 20 s cut of the control connection during a backup: the run stays running, is re-attached and succeeds', async () => {
    await job('cut', 16, ['--bwlimit', '1M', '--retries', '0']);
    const queued = await c.json<RunJson>(['job', 'run', 'cut']);
    await runningRun('cut');
    proxy.cut(20_000);
    await pollUntil('the server saw the agent go', async () => (await c.json<{ name: string; status: string }[]>(['agent', 'list']))[0]?.status === 'offline', 6000);
    assert.equal((await c.json<RunJson>(['run', 'show', String(queued.id)])).status, 'running', 'a dropped link does not end the run');
    const ended = await endedRun(c, queued.id);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    assert.equal(ended.attempt, 1);
    const log = (await c.json<{ message: string }[]>(['run', 'log', String(queued.id)])).map((l) => l.message);
    assert.ok(log.some((l) => l.startsWith('agent a1 disconnected; waiting up to 2m')), JSON.stringify(log));
    assert.ok(log.includes('agent a1 re-attached the run'), JSON.stringify(log));
    const snaps = await c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'cut']);
    assert.deepEqual(snaps.map((s) => s.id), [ended.snapshot]);
    assert.ok(ended.bytes >= 16 * MiB);
  });

  it('a server SIGKILL and restart during a backup: the run is re-attached and succeeds', async () => {
    await job('restarted', 16, ['--bwlimit', '1M', '--retries', '0']);
    const queued = await c.json<RunJson>(['job', 'run', 'restarted']);
    await runningRun('restarted');
    await c.restartServer('SIGKILL');
    const ended = await endedRun(c, queued.id);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    const log = (await c.json<{ message: string }[]>(['run', 'log', String(queued.id)])).map((l) => l.message);
    assert.ok(log.includes('the backup server restarted; waiting for the agent to re-attach the run'), JSON.stringify(log));
    assert.ok(log.includes('agent a1 re-attached the run'), JSON.stringify(log));
    const snaps = await c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'restarted']);
    assert.deepEqual(snaps.map((s) => s.id), [ended.snapshot]);
    assert.equal(snaps[0]!.files, ended.files);
  });
});

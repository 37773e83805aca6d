// A storage server stopped (SIGTERM) while a backup uploads to it, on a real cluster: it finishes
// or cleanly refuses what is in flight (no stack trace in its log, exit 0), and the backup either
// completes or fails as unavailable and is retried, succeeding once the storage server is back.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { pseudoRandom } from './support/tree-builder.ts';

async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 600): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a storage server stopped with uploads in flight', { concurrency: 1 }, () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'], env: { CAIRN_TEST: '1', CAIRN_TEST_RETRY_BACKOFF_MS: '500', CAIRN_TEST_SCHEDULER_TICK_MS: '200', CAIRN_TEST_STORAGE_DRAIN_MS: '200' } });
  });
  after(async () => {
    await c?.stop();
  });

  it('finishes or refuses them cleanly: no stack trace, and the backup completes or is retried until it does', async () => {
    const src = join(tempDir('cairn-stop-src-'), 'data');
    mkdirSync(src, { recursive: true });
    // incompressible, and throttled (10M: at 40M, with the pacer's one-second burst, 48 MiB went up in
    // 0.7 s, before a loaded machine's poll saw it running): the upload is still going when the storage server is told to stop;
    // its grace for in-flight requests is 200 ms, so some are cut and others refused
    for (let i = 0; i < 12; i++) writeFileSync(join(src, `big-${i}.bin`), pseudoRandom(4 * 1024 * 1024, i + 1));
    const made = await c.cli(['job', 'create', 'big', '--agent', 'a1', '--storage', 's1', '--path', src, '--bwlimit', '10M']);
    assert.equal(made.code, 0, made.stderr);
    const queued = await c.json<RunJson>(['job', 'run', 'big']);
    await until('the upload under way', async () => {
      const run = await c.json<RunJson & { bytesSent?: number }>(['run', 'show', String(queued.id)]);
      assert.ok(run.status === 'queued' || run.status === 'running', JSON.stringify(run));
      return run.bytesRead > 2 * 1024 * 1024 ? true : undefined;
    });
    const storage = c.storages.get('s1')!;
    await storage.stop('SIGTERM');
    assert.equal(storage.process.exitCode, 0, storage.stderr());
    const log = storage.stderr();
    assert.match(log, /SIGTERM, finishing in-flight requests/);
    assert.doesNotMatch(log, /^\s+at /m, `a stack trace in the storage server's log:\n${log}`);
    assert.doesNotMatch(log, /finalized|E_INTERNAL|internal error/i, log);

    const first = await until('the first attempt to end', async () => {
      const run = await c.json<RunJson>(['run', 'show', String(queued.id)]);
      return run.status === 'running' || run.status === 'queued' ? undefined : run;
    });
    if (first.status === 'failed') {
      assert.equal(first.error!.split('\n').length, 1, first.error!);
      assert.match(first.error!, /storage|unavailable|shutting down|offline|connection/i, first.error!);
      assert.notEqual(first.nextAttempt, null, `a transient failure is retried: ${JSON.stringify(first)}`);
    } else assert.equal(first.status, 'succeeded', JSON.stringify(first));

    await c.restartStorage('s1');
    const last = await until('the backup to succeed', async () => {
      const runs = await c.json<RunJson[]>(['run', 'list', '--job', 'big']);
      const newest = runs[0]!;
      return newest.status === 'succeeded' ? newest : undefined;
    }, 1200);
    assert.equal(last.files, 12);
    assert.doesNotMatch(c.storages.get('s1')!.stderr(), /^\s+at /m);
  });
});

// A storage server whose disk fills up during a backup (SPEC.md "Bad input": a full disk), with
// the real processes and the storage server's data folder on a small tmpfs: the run ends `failed`
// with a one-line reason, no upload is left half-written, what was stored before still restores
// and verifies, and once there is room again the next backup succeeds and restores identical.
// Mounting needs root (the CI machine runs as root); without it the case is skipped, saying so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, type Daemon, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical, failedJobRun, incompressibleTree, pollUntil } from './support/crash-support.ts';

const canMount = process.getuid?.() === 0;
const NO_MOUNT = canMount ? false : 'mounting a tmpfs needs root; this case is skipped';
const PASSPHRASE = 'full disk passphrase for tests';
const VAULT = 'admin.full1';

describe('a full disk on the storage server', { concurrency: 1, skip: NO_MOUNT }, () => {
  let c: Cluster;
  let mount: string;
  let storage: Daemon | undefined;

  before(async () => {
    c = await startCluster({ agents: ['agent1'] });
    mount = tempDir('cairn-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mount]);
    const token = (await c.json<{ token: string }>(['token', 'create', '--kind', 'storage'])).token;
    const data = join(mount, 'store');
    storage = await startDaemon('storage full1', data, ['storage', 'start', '--data', data, '--listen', '127.0.0.1:0', '--server', c.url, '--token', token, '--name', 'full1']);
    await c.waitOnline('storage', 'full1');
  });

  after(async () => {
    await storage?.stop();
    await c?.stop();
    if (mount) execFileSync('umount', [mount]);
  });

  async function job(name: string, src: string): Promise<void> {
    const r = await c.cli(['job', 'create', name, '--agent', 'agent1', '--storage', 'full1', '--path', src], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 0, r.stderr);
  }

  async function restoresIdentical(snapshot: string, src: string): Promise<void> {
    const to = tempDir('cairn-full-to-');
    const run = await c.json<RunJson>(['restore', snapshot, '--to', to, '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assertRsyncIdentical(src, join(to, src));
  }

  it('fails the backup with one line, leaves what was stored whole, and succeeds once there is room', async () => {
    const small = incompressibleTree(join(tempDir('cairn-full-small-'), 'data'), 2, 2);
    await job('small', small);
    const first = await c.json<RunJson>(['job', 'run', 'small', '--wait']);
    assert.equal(first.status, 'succeeded', JSON.stringify(first));

    const big = incompressibleTree(join(tempDir('cairn-full-big-'), 'data'), 8, 8);
    await job('big', big);
    const full = await failedJobRun(c, 'big');
    assert.ok(full.error && !full.error.includes('\n'), `one-line error: ${full.error}`);
    assert.match(full.error, /no space left on device/);
    // uploads still streaming when the run failed are cut off by the agent; the storage server
    // notices each closed connection and removes its temporary file
    const tmp = join(mount, 'store', 'vaults', VAULT, 'tmp');
    await pollUntil('no upload left half-written in tmp/', () => fs.readdirSync(tmp).length === 0, 1000);

    await restoresIdentical(first.snapshot!, small);
    const verified = await c.json<RunJson>(['verify', first.snapshot!, '--level', 'data', '--wait']);
    assert.equal(verified.status, 'succeeded', JSON.stringify(verified));

    execFileSync('mount', ['-o', 'remount,size=200m', mount]);
    const again = await c.json<RunJson>(['job', 'run', 'big', '--wait']);
    assert.equal(again.status, 'succeeded', JSON.stringify(again));
    await restoresIdentical(again.snapshot!, big);
    await restoresIdentical(first.snapshot!, small);
  });
});

// Every job setting acts, through the CLI, the server and the agent (real processes): --bwlimit
// paces a backup (100 MiB at 5 MiB/s takes 19 to 30 s where the same backup unlimited takes
// under 10 s); --exclude, --one-file-system (a tmpfs mounted inside the path), --exclude-caches
// and --max-file-size each shape the snapshot; `job edit` changes them for the next run, and
// `job show --json` shows them all.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JobJson, RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { incompressibleTree } from './support/crash-support.ts';

const MiB = 1024 * 1024;
const PASSPHRASE = { CAIRN_PASSPHRASE: 'job settings test passphrase' };
const CACHE_TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n';

describe('job settings', { concurrency: 1 }, () => {
  let c: Cluster;
  let mounted: string | undefined;

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
  });
  after(async () => {
    if (mounted) execFileSync('umount', [mounted]);
    await c?.stop();
  });

  async function create(name: string, args: string[]): Promise<void> {
    const r = await c.cli(['job', 'create', name, '--agent', 'a1', '--storage', 's1', ...args], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
  }
  const runWait = async (job: string, level = 'full'): Promise<RunJson> => {
    const run = await c.json<RunJson>(['job', 'run', job, '--level', level, '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    return run;
  };
  const ls = async (snapshot: string, path: string) => (await c.json<{ name: string; type: string }[]>(['snapshot', 'ls', snapshot, path])).map((e) => e.name).sort();

  it('--bwlimit 5M: 100 MiB take 19 to 30 s; unlimited, under 10 s', async () => {
    const data = incompressibleTree(join(tempDir('cairn-bw-'), 'data'), 4, 25);
    await create('paced', ['--path', data, '--bwlimit', '5M']);
    const started = Date.now();
    const paced = await runWait('paced');
    const pacedS = (Date.now() - started) / 1000;
    assert.ok(paced.bytesNew >= 95 * MiB, `the whole set was sent: ${paced.bytesNew}`);
    assert.ok(pacedS >= 19 && pacedS <= 30, `paced backup took ${pacedS} s`);
    // the same data into a fresh vault, without a limit
    const r = await c.cli(['vault', 'create', 'fresh.s1', '--storage', 's1', '--passphrase-stdin'], `${PASSPHRASE.CAIRN_PASSPHRASE}\n`);
    assert.equal(r.code, 0, r.stderr);
    await create('unpaced', ['--path', data, '--vault', 'fresh.s1']);
    const t = Date.now();
    const free = await runWait('unpaced');
    const freeS = (Date.now() - t) / 1000;
    assert.ok(free.bytesNew >= 95 * MiB, `the whole set was sent again: ${free.bytesNew}`);
    assert.ok(freeS <= 10, `unlimited backup took ${freeS} s`);
    // `job edit --bwlimit 0` removes the limit
    const edited = await c.json<JobJson>(['job', 'edit', 'paced', '--bwlimit', '0']);
    assert.equal(edited.bwlimit, null);
  });

  it('excludes, one file system, caches and size limits shape the snapshot; job edit changes them', async () => {
    const root = join(tempDir('cairn-shape-'), 'root');
    mkdirSync(join(root, 'mnt'), { recursive: true });
    mkdirSync(join(root, 'cache'));
    mkdirSync(join(root, 'notcache'));
    writeFileSync(join(root, 'small.txt'), 'small');
    writeFileSync(join(root, 'big.bin'), randomBytes(2 * MiB));
    writeFileSync(join(root, 'skip.tmp'), 'excluded by name');
    writeFileSync(join(root, 'cache', 'CACHEDIR.TAG'), CACHE_TAG);
    writeFileSync(join(root, 'cache', 'blob'), 'cached');
    writeFileSync(join(root, 'notcache', 'CACHEDIR.TAG'), 'Signature: not the right one\n');
    writeFileSync(join(root, 'notcache', 'kept'), 'kept');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'none', join(root, 'mnt')]);
    mounted = join(root, 'mnt');
    writeFileSync(join(root, 'mnt', 'on-tmpfs'), 'another file system');

    await create('shaped', ['--path', root, '--exclude', '*.tmp', '--one-file-system', '--exclude-caches', '--max-file-size', '1M']);
    const job = await c.json<JobJson>(['job', 'show', 'shaped']);
    assert.deepEqual(
      { oneFileSystem: job.oneFileSystem, excludeCaches: job.excludeCaches, maxFileSize: job.maxFileSize, excludes: job.excludes, priority: job.priority, retries: job.retries, paused: job.paused },
      { oneFileSystem: true, excludeCaches: true, maxFileSize: MiB, excludes: ['*.tmp'], priority: 0, retries: 2, paused: false },
    );
    const first = await runWait('shaped');
    assert.deepEqual(await ls(first.snapshot!, root), ['cache', 'mnt', 'notcache', 'small.txt']);
    assert.deepEqual(await ls(first.snapshot!, join(root, 'mnt')), [], 'the mount point is kept empty');
    assert.deepEqual(await ls(first.snapshot!, join(root, 'cache')), ['CACHEDIR.TAG'], 'a tagged cache keeps the tag only');
    assert.deepEqual(await ls(first.snapshot!, join(root, 'notcache')), ['CACHEDIR.TAG', 'kept'], 'a wrong tag excludes nothing');
    const log = await c.json<{ message: string; part: string }[]>(['run', 'log', String(first.id)]);
    assert.ok(log.some((l) => l.part === 'agent:a1' && /skipped 1 file\(s\) larger than --max-file-size/.test(l.message)), JSON.stringify(log));
    const estimate = await c.json<{ files: number }>(['job', 'estimate', 'shaped', '--level', 'full']);
    assert.equal(estimate.files, first.files, 'the estimate reads what the backup reads');

    const edited = await c.json<JobJson>(['job', 'edit', 'shaped', '--exclude', '*.bin', '--no-one-file-system', '--no-exclude-caches', '--max-file-size', '0', '--priority', '7']);
    assert.deepEqual(
      { oneFileSystem: edited.oneFileSystem, excludeCaches: edited.excludeCaches, maxFileSize: edited.maxFileSize, excludes: edited.excludes, priority: edited.priority },
      { oneFileSystem: false, excludeCaches: false, maxFileSize: null, excludes: ['*.bin'], priority: 7 },
    );
    const second = await runWait('shaped');
    assert.deepEqual(await ls(second.snapshot!, root), ['cache', 'mnt', 'notcache', 'skip.tmp', 'small.txt']);
    assert.deepEqual(await ls(second.snapshot!, join(root, 'mnt')), ['on-tmpfs']);
    assert.deepEqual(await ls(second.snapshot!, join(root, 'cache')), ['CACHEDIR.TAG', 'blob']);
  });
});

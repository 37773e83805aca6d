// A job's backup settings as the agent applies them (run-backup.ts, run-estimate.ts) against a
// real standalone storage server process, with a recording `call` standing in for the backup
// server: --bwlimit paces the pack uploads, --one-file-system keeps a tmpfs mounted inside the
// path as an empty directory, --exclude-caches keeps a directory with a valid CACHEDIR.TAG and
// the tag alone, --max-file-size leaves larger files out and says so in the run log, and the
// estimate counts what the backup reads under the same settings. What is in a snapshot is read
// from the file index the backup sends.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackup } from '../src/agent/run-backup.ts';
import type { RunContext } from '../src/agent/run-context.ts';
import { runEstimate } from '../src/agent/run-estimate.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, newVaultId, wrapKeys } from '../src/core/keys.ts';
import type { BackupParams, IndexEntryWire, LogEventData, SnapshotIndexParams } from '../src/protocol/control.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const keys = generateVaultKeys();
/** the vault's id, which the agent's copy of its keys names */
const vaultId = newVaultId();
const agentKey = generateAgentKeyPair();
const wrapped = wrapForAgent(keys, agentKey.publicKeyPem, vaultId);
/** A grant as the server writes one; the standalone storage server does not look at it. */
const grant = `${Buffer.from(JSON.stringify({ exp: Date.now() + 3_600_000 })).toString('base64url')}.sig`;
const MiB = 1024 * 1024;
/** CAIRN_BWLIMIT_MIB=100 runs the full target (100 MiB at 5 MiB/s: 19 to 30 s) */
const PACED_MIB = Number(process.env.CAIRN_BWLIMIT_MIB ?? 30);
const RATE = (PACED_MIB >= 100 ? 5 : 3) * MiB;
const CACHE_TAG = 'Signature: 8a477f597d28d172789f06886806bc55';

type Recorded = { method: string; params: unknown };

describe('backup settings on the agent', () => {
  let server: StorageProcess;
  let ca: string;
  let accessKey: string;
  let work: string;
  let run = 100;

  const context = (calls: Recorded[], extra: Partial<RunContext> = {}): RunContext => ({
    call: async (method, params) => {
      calls.push({ method, params });
      return method === 'renewGrant' ? { grant } : {};
    },
    event: (r, kind, data) => calls.push({ method: `event:${kind}`, params: data }),
    agentKeyPem: agentKey.privateKeyPem,
    storageClient: () => new StorageClient({ url: server.url, ca, accessKey }),
    host: 'test-host',
    tmpDir: join(work, 'agent-data', 'tmp'),
    workers: 2,
    ...extra,
  });

  const params = (paths: string[], over: Partial<BackupParams> = {}): BackupParams => ({
    run: run++,
    job: 'j',
    level: 'full',
    paths,
    excludes: [],
    storage: { name: 's1', url: server.url },
    vault: 'settings',
    grant,
    keys: wrapped,
    forceRead: false,
    ...over,
  });

  /** A backup run; its result, its file index as "dir|name|type" (below `under`), and its log lines. */
  const backupOf = async (under: string, over: Partial<BackupParams> = {}) => {
    const calls: Recorded[] = [];
    const result = await runBackup(params([under], over), context(calls));
    const entries: IndexEntryWire[] = calls
      .filter((c) => c.method === 'snapshotIndex')
      .flatMap((c) => (c.params as SnapshotIndexParams).entries);
    const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
    const index = entries
      .map((e) => `${text(e.dir)}|${text(e.name)}|${e.type}`)
      .filter((k) => k.startsWith(`${under}|`) || k.startsWith(`${under}/`))
      .map((k) => k.slice(under.length))
      .sort();
    const log = calls.filter((c) => c.method === 'event:log').map((c) => c.params as LogEventData);
    return { result, index, log };
  };

  const estimateOf = (under: string, over: Partial<BackupParams> = {}) => {
    const { run: _run, ...estimate } = params([under], over);
    return runEstimate(estimate, context([]));
  };

  before(async () => {
    server = await startStorage();
    ca = fs.readFileSync(server.caFile, 'utf8');
    accessKey = fs.readFileSync(server.accessKeyFile, 'utf8').trim();
    const admin = new StorageClient({ url: server.url, ca, accessKey });
    for (const vault of ['settings', 'paced', 'unpaced'])
      await admin.createVault(vault, { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'pw pw pw pw', vaultId) });
    admin.close();
    work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-backup-settings-')));
  });

  const mounted: string[] = [];
  after(async () => {
    for (const dir of mounted) execFileSync('umount', [dir]);
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it(`--bwlimit paces ${PACED_MIB} MiB of random data to ${RATE / MiB} MiB/s; without it the same backup is much faster`, async () => {
    const data = join(work, 'paced');
    fs.mkdirSync(data);
    for (let i = 0; i < PACED_MIB / 10; i++) fs.writeFileSync(join(data, `part-${i}`), randomBytes(10 * MiB));
    const timed = async (over: Partial<BackupParams>) => {
      const start = performance.now();
      const { result } = await backupOf(data, over);
      assert.ok(result.bytesNew >= PACED_MIB * MiB, `${result.bytesNew} bytes sent`);
      return (performance.now() - start) / 1000;
    };
    const free = await timed({ vault: 'unpaced' });
    const paced = await timed({ vault: 'paced', bwlimit: RATE });
    console.log(`bwlimit: ${PACED_MIB} MiB at ${RATE / MiB} MiB/s took ${paced.toFixed(1)} s; unlimited ${free.toFixed(1)} s`);
    // a full bucket (one second of the rate) goes at once, the rest at the rate
    const least = (PACED_MIB * MiB - RATE) / RATE;
    assert.ok(paced >= least, `${paced} s, at least ${least} s expected`);
    assert.ok(paced <= least * 1.5 + 2, `${paced} s: the limit slows the backup beyond the rate`);
    assert.ok(free < paced / 2, `unlimited ${free} s, paced ${paced} s`);
  });

  it('a canceled backup does not sit out its --bwlimit', async () => {
    const controller = new AbortController();
    const start = performance.now();
    setTimeout(() => controller.abort(new Error('canceled by test')), 1000);
    await assert.rejects(
      runBackup(params([join(work, 'paced')], { vault: 'settings', bwlimit: 1024 * 1024 }), context([], { signal: controller.signal })),
      /canceled by test/,
    );
    const seconds = (performance.now() - start) / 1000;
    assert.ok(seconds < 4, `ended ${seconds} s after the start, 1 s after the cancel`);
  });
  /** Files under `root` as the layout says: a path ending in '/' is a directory, else the file's content. */
  const layout = (root: string, files: Record<string, string | Buffer>) => {
    fs.mkdirSync(root, { recursive: true });
    for (const [p, content] of Object.entries(files)) {
      if (p.endsWith('/')) fs.mkdirSync(join(root, p), { recursive: true });
      else {
        fs.mkdirSync(join(root, p, '..'), { recursive: true });
        fs.writeFileSync(join(root, p), content);
      }
    }
  };

  it('--one-file-system keeps a tmpfs mounted inside the path as an empty directory, and the estimate agrees', async () => {
    const root = join(work, 'ofs');
    layout(root, { 'a.txt': 'alpha', 'mnt/': '' });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0750', 'none', join(root, 'mnt')]);
    mounted.push(join(root, 'mnt'));
    layout(join(root, 'mnt'), { 'inner.txt': 'inside', 'deep/x': 'xx' });

    const crossing = await backupOf(root);
    assert.deepEqual(crossing.index, ['/mnt/deep|x|file', '/mnt|deep|dir', '/mnt|inner.txt|file', '|a.txt|file', '|mnt|dir']);
    const staying = await backupOf(root, { oneFileSystem: true });
    assert.deepEqual(staying.index, ['|a.txt|file', '|mnt|dir']);
    assert.equal(staying.result.files, 1);

    const estimated = await estimateOf(root, { oneFileSystem: true });
    assert.deepEqual(estimated, { files: staying.result.files, bytes: staying.result.bytes });
    assert.deepEqual(await estimateOf(root), { files: 3, bytes: 5 + 6 + 2 });
  });

  it('--exclude-caches keeps a directory with a valid CACHEDIR.TAG and the tag only; an invalid tag excludes nothing', async () => {
    const root = join(work, 'caches');
    layout(root, {
      'valid/CACHEDIR.TAG': `${CACHE_TAG}\n# This file is a cache directory tag.\n`,
      'valid/blob.bin': 'cached',
      'valid/sub/deeper.bin': 'cached too',
      'wrong/CACHEDIR.TAG': 'Signature: 8a477f597d28d172789f06886806bc5\n', // one digit short
      'wrong/kept.txt': 'kept',
      'tagdir/CACHEDIR.TAG/': '', // a directory, not a regular file
      'tagdir/kept.txt': 'kept',
      'short/CACHEDIR.TAG': CACHE_TAG.slice(0, 42),
      'short/kept.txt': 'kept',
    });
    const { index, result } = await backupOf(root, { excludeCaches: true });
    assert.deepEqual(index, [
      '/short|CACHEDIR.TAG|file',
      '/short|kept.txt|file',
      '/tagdir|CACHEDIR.TAG|dir',
      '/tagdir|kept.txt|file',
      '/valid|CACHEDIR.TAG|file',
      '/wrong|CACHEDIR.TAG|file',
      '/wrong|kept.txt|file',
      '|short|dir',
      '|tagdir|dir',
      '|valid|dir',
      '|wrong|dir',
    ]);
    const all = await backupOf(root);
    assert.ok(all.index.includes('/valid|blob.bin|file') && all.index.includes('/valid/sub|deeper.bin|file'), 'kept without the setting');
    assert.deepEqual(await estimateOf(root, { excludeCaches: true }), { files: result.files, bytes: result.bytes });
  });

  it('--max-file-size leaves larger files out, keeps the rest, and tells the run log which', async () => {
    const root = join(work, 'sizes');
    layout(root, { small: 'x'.repeat(100), exact: 'x'.repeat(1000), big: 'x'.repeat(1001), 'sub/huge': 'x'.repeat(5000) });
    const { index, result, log } = await backupOf(root, { maxFileSize: 1000 });
    assert.deepEqual(index, ['|exact|file', '|small|file', '|sub|dir']);
    assert.deepEqual([result.files, result.bytes], [2, 1100]);
    // (a machine without getfattr adds a warn line: only the info lines are the skips')
    assert.deepEqual(log.filter((l) => l.level === 'info'), [
      { level: 'info', message: 'skipped 2 file(s) larger than --max-file-size 1000 bytes' },
      { level: 'info', message: `skipped (larger than --max-file-size): ${root}/big` },
      { level: 'info', message: `skipped (larger than --max-file-size): ${root}/sub/huge` },
    ]);
    assert.deepEqual(await estimateOf(root, { maxFileSize: 1000 }), { files: 2, bytes: 1100 });
    // a file asked for by its own path is held to the limit too
    const alone = await backupOf(join(root, 'big'), { maxFileSize: 1000 });
    assert.equal(alone.result.files, 0);
  });

  it('all settings at once: the estimate counts what the backup reads', async () => {
    const root = join(work, 'together');
    layout(root, {
      'docs/a.txt': 'a'.repeat(10),
      'docs/large.iso': 'x'.repeat(4096),
      'cache/CACHEDIR.TAG': CACHE_TAG,
      'cache/entry': 'e'.repeat(50),
      'skip.tmp': 'excluded by glob',
    });
    const settings = { oneFileSystem: true, excludeCaches: true, maxFileSize: 1024, excludes: ['*.tmp'] };
    const { result } = await backupOf(root, settings);
    assert.deepEqual([result.files, result.bytes], [2, 10 + CACHE_TAG.length]);
    assert.deepEqual(await estimateOf(root, settings), { files: result.files, bytes: result.bytes });
  });

  it('each warning is a warn line of the run log, and the result counts them all', async () => {
    const calls: Recorded[] = [];
    const missing = ['/gone-one', '/gone-two', '/gone-three'].map((p) => join(work, p));
    layout(join(work, 'present'), { 'a.txt': 'here' });
    const result = await runBackup(params([join(work, 'present'), ...missing]), context(calls));
    // (a machine without getfattr adds a warning of its own)
    assert.deepEqual(
      result.warnings.filter((w) => w.reason === 'does not exist').map((w) => w.path),
      missing.toSorted(),
    );
    assert.equal(result.warningsTotal, result.warnings.length);
    const lines = calls.filter((c) => c.method === 'event:log').map((c) => c.params as LogEventData);
    assert.deepEqual(
      lines.map((l) => `${l.level} ${l.message}`),
      result.warnings.map((w) => `warn ${w.path}: ${w.reason}`),
    );
  });
});

// The agent's run handlers (run-backup.ts, run-restore.ts) against a real standalone storage
// server process: the backup's snapshotCreated and file index go to a recording `call` (it
// stands in for the backup server's catalog), the restore follows each conflict policy when run
// twice into the same target, a dry run writes nothing, targets outside the restore roots are
// refused before anything is written, and a canceled run stops without a snapshot.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from '../src/agent/backup/archiver.ts';
import { restoredStamp } from '../src/agent/restore/conflicts.ts';
import { runBackup } from '../src/agent/run-backup.ts';
import type { RunContext } from '../src/agent/run-context.ts';
import { runRestore } from '../src/agent/run-restore.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { isCairnError } from '../src/core/errors.ts';
import { generateVaultKeys, newVaultId, wrapKeys } from '../src/core/keys.ts';
import type { TreeNode } from '../src/core/tree.ts';
import type {
  BackupParams,
  BackupResult,
  IndexEntryWire,
  RestoreParams,
  SnapshotCreatedParams,
  SnapshotIndexParams,
} from '../src/protocol/control.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';
import { pseudoRandom } from './support/tree-builder.ts';

const VAULT = 'runs';
const keys = generateVaultKeys();
/** the vault's id, which the agent's copy of its keys names */
const vaultId = newVaultId();
const agentKey = generateAgentKeyPair();
const wrapped = wrapForAgent(keys, agentKey.publicKeyPem, vaultId);
/** A grant as the server writes one; the standalone storage server does not look at it. */
const grant = `${Buffer.from(JSON.stringify({ exp: Date.now() + 3_600_000 })).toString('base64url')}.sig`;

type Recorded = { method: string; params: unknown };

describe('agent run handlers', () => {
  let server: StorageProcess;
  let ca: string;
  let accessKey: string;
  let work: string;
  let src: string;
  let restoreRoot: string;
  const odd = Buffer.from([0x6e, 0xe9, 0xff]); // a non-UTF-8 name

  const context = (calls: Recorded[], extra: Partial<RunContext> = {}): RunContext => ({
    call: async (method, params) => {
      calls.push({ method, params });
      return method === 'renewGrant' ? { grant } : {};
    },
    event: (run, kind, data) => calls.push({ method: `event:${kind}`, params: { run, data } }),
    agentKeyPem: agentKey.privateKeyPem,
    storageClient: () => new StorageClient({ url: server.url, ca, accessKey }),
    host: 'test-host',
    tmpDir: join(work, 'agent-data', 'tmp'),
    workers: 2,
    ...extra,
  });

  const backupParams = (over: Partial<BackupParams> = {}): BackupParams => ({
    run: 7,
    job: 'j',
    level: 'full',
    paths: [src],
    excludes: [],
    storage: { name: 's1', url: server.url },
    vault: VAULT,
    grant,
    keys: wrapped,
    forceRead: false,
    ...over,
  });

  const restoreParams = (snapshot: string, over: Partial<RestoreParams> = {}): RestoreParams => ({
    run: 8,
    snapshot,
    storage: { name: 's1', url: server.url },
    vault: VAULT,
    grant,
    keys: wrapped,
    to: join(restoreRoot, 'target'),
    include: [],
    conflict: 'rename',
    dryRun: false,
    ...over,
  });

  let first: BackupResult;
  let firstCalls: Recorded[];

  before(async () => {
    server = await startStorage();
    ca = fs.readFileSync(server.caFile, 'utf8');
    accessKey = fs.readFileSync(server.accessKeyFile, 'utf8').trim();
    const admin = new StorageClient({ url: server.url, ca, accessKey });
    await admin.createVault(VAULT, { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'pw pw pw pw', vaultId) });
    admin.close();
    work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-agent-runs-')));
    src = join(work, 'src');
    restoreRoot = join(work, 'restores');
    fs.mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    fs.mkdirSync(join(src, 'empty'));
    fs.mkdirSync(restoreRoot);
    fs.writeFileSync(join(src, 'a.txt'), 'alpha\n');
    fs.writeFileSync(join(src, 'sub', 'big.bin'), pseudoRandom(3_000_000, 1));
    fs.writeFileSync(join(src, 'sub', 'deeper', 'c.txt'), 'gamma\n');
    fs.writeFileSync(join(src, 'scratch.tmp'), 'left out');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${src}/`), odd]), 'odd name');
    fs.symlinkSync('a.txt', join(src, 'link'));
    fs.writeFileSync(join(src, 'h1'), 'linked\n');
    fs.linkSync(join(src, 'h1'), join(src, 'h2'));
    firstCalls = [];
    first = await runBackup(backupParams({ excludes: ['*.tmp'] }), context(firstCalls));
  });

  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('backs up, then reports the snapshot and its whole file index to the server', () => {
    assert.match(first.snapshot, /^[0-9a-f]{64}$/);
    assert.equal(first.files, 6); // a.txt, big.bin, c.txt, the odd name, h1, h2; scratch.tmp excluded
    assert.equal(first.bytes, 6 + 3_000_000 + 6 + 8 + 7);
    const methods = firstCalls.map((c) => c.method).filter((m) => !m.startsWith('event:'));
    assert.equal(methods[0], 'snapshotCreated');
    assert.ok(methods.slice(1).every((m) => m === 'snapshotIndex'));
    const created = firstCalls[firstCalls.findIndex((c) => c.method === 'snapshotCreated')]!.params as SnapshotCreatedParams;
    assert.deepEqual(
      { run: created.run, snapshot: created.snapshot, time: created.time, files: created.counters.files },
      { run: 7, snapshot: first.snapshot, time: first.time, files: 6 },
    );
    const entries: IndexEntryWire[] = firstCalls
      .filter((c) => c.method === 'snapshotIndex')
      .flatMap((c) => (c.params as SnapshotIndexParams).entries);
    const key = (e: IndexEntryWire) =>
      `${Buffer.from(e.dir, 'base64').toString('latin1')}|${Buffer.from(e.name, 'base64').toString('latin1')}|${e.type}`;
    const keys = entries.map(key).sort();
    assert.equal(new Set(keys).size, keys.length, 'each entry once');
    const want = [
      ...src.split('/').slice(1).map((name, i, all) => `/${all.slice(0, i).join('/')}|${name}|dir`.replace('//', '/')),
      `${src}|a.txt|file`,
      `${src}|empty|dir`,
      `${src}|h1|file`,
      `${src}|h2|hardlink`,
      `${src}|link|symlink`,
      `${src}|sub|dir`,
      `${src}|${odd.toString('latin1')}|file`,
      `${src}/sub|big.bin|file`,
      `${src}/sub|deeper|dir`,
      `${src}/sub/deeper|c.txt|file`,
    ].sort();
    assert.deepEqual(keys, want);
    const big = entries.find((e) => Buffer.from(e.name, 'base64').toString() === 'big.bin')!;
    assert.equal(big.size, 3_000_000);
    assert.equal(BigInt(big.mtimeNs), fs.statSync(join(src, 'sub', 'big.bin'), { bigint: true }).mtimeNs);
    assert.deepEqual(fs.readdirSync(join(work, 'agent-data', 'tmp')), [], 'the index spool is removed');
    assert.ok(firstCalls.some((c) => c.method === 'event:progress'), 'at least the final progress event');
  });

  it('a second backup with the first as parent reads nothing unchanged', async () => {
    const calls: Recorded[] = [];
    const second = await runBackup(backupParams({ run: 9, parent: first.snapshot, excludes: ['*.tmp'] }), context(calls));
    assert.equal(second.filesChanged, 0);
    // /tmp, above src, changes under tests running alongside: its tree may be new, nothing else
    assert.ok(second.bytesNew < 4096, `${second.bytesNew} new bytes`);
    assert.notEqual(second.snapshot, first.snapshot);
  });

  it('restores twice into one target with each conflict policy', async () => {
    const target = join(restoreRoot, 'target');
    const restored = (...p: string[]) => join(target, src, ...p);
    const r1 = await runRestore(restoreParams(first.snapshot), { ...context([]), restoreRoots: [restoreRoot] });
    assert.deepEqual(r1.damaged, []);
    assert.deepEqual(r1.pretreatment.conflicts, []);
    assert.equal(fs.readFileSync(restored('a.txt'), 'utf8'), 'alpha\n');
    assert.ok(fs.readFileSync(restored('sub', 'big.bin')).equals(pseudoRandom(3_000_000, 1)));
    assert.equal(fs.existsSync(restored('scratch.tmp')), false, 'excluded file not in the snapshot');

    // the user changed a file since: each policy decides its fate
    fs.writeFileSync(restored('a.txt'), 'changed\n');
    const listing = () => fs.readdirSync(restored()).sort();

    const skip = await runRestore(restoreParams(first.snapshot, { conflict: 'skip' }), { ...context([]), restoreRoots: [restoreRoot] });
    assert.equal(fs.readFileSync(restored('a.txt'), 'utf8'), 'changed\n');
    assert.equal(skip.files, 0);
    assert.deepEqual(
      skip.pretreatment.conflicts.map((c) => c.action),
      Array(skip.pretreatment.conflicts.length).fill('skip'),
    );
    assert.ok(skip.pretreatment.conflicts.some((c) => c.path === `${src}/a.txt`));
    assert.equal(skip.pretreatment.conflicts.length, 7); // a.txt, h1, h2, link, odd name, big.bin, c.txt
    assert.deepEqual(skip.warnings, []);

    const before = new Date();
    const rename = await runRestore(restoreParams(first.snapshot, { conflict: 'rename' }), { ...context([]), restoreRoots: [restoreRoot] });
    assert.deepEqual(rename.damaged, []);
    assert.equal(rename.pretreatment.conflicts.length, 7);
    assert.ok(rename.pretreatment.conflicts.every((c) => c.action === 'rename'));
    assert.equal(fs.readFileSync(restored('a.txt'), 'utf8'), 'changed\n', 'the existing file is kept');
    const renamedA = listing().filter((n) => n.startsWith('a.txt.restored-'));
    assert.equal(renamedA.length, 1);
    const stamp = renamedA[0]!.slice('a.txt.restored-'.length);
    assert.match(stamp, /^\d{8}T\d{6}Z$/);
    assert.ok(stamp >= restoredStamp(new Date(before.getTime() - 1000)));
    assert.equal(fs.readFileSync(restored(renamedA[0]!), 'utf8'), 'alpha\n');
    assert.ok(fs.readFileSync(restored('sub', `big.bin.restored-${stamp}`)).equals(pseudoRandom(3_000_000, 1)));
    assert.equal(fs.readlinkSync(restored(`link.restored-${stamp}`)), 'a.txt');
    const h1 = fs.statSync(restored(`h1.restored-${stamp}`));
    assert.equal(fs.statSync(restored(`h2.restored-${stamp}`)).ino, h1.ino, 'renamed hard links share their inode');
    assert.notEqual(fs.statSync(restored('h1')).ino, h1.ino);

    const overwrite = await runRestore(restoreParams(first.snapshot, { conflict: 'overwrite' }), {
      ...context([]),
      restoreRoots: [restoreRoot],
    });
    assert.equal(fs.readFileSync(restored('a.txt'), 'utf8'), 'alpha\n', 'replaced by the restored one');
    assert.ok(overwrite.pretreatment.conflicts.some((c) => c.path === `${src}/a.txt` && c.action === 'overwrite'));
    assert.ok(!fs.readdirSync(restored()).some((n) => n.startsWith('.cairn-')), 'no temporary file left');
  });

  it('a dry run lists the conflicts and writes nothing', async () => {
    const target = join(restoreRoot, 'target');
    fs.writeFileSync(join(target, src, 'a.txt'), 'changed again\n');
    const before = fs.readdirSync(join(target, src)).sort();
    const dry = await runRestore(restoreParams(first.snapshot, { dryRun: true, conflict: 'rename' }), {
      ...context([]),
      restoreRoots: [restoreRoot],
    });
    assert.equal(dry.pretreatment.ok, true);
    assert.ok(dry.pretreatment.conflicts.some((c) => c.path === `${src}/a.txt` && c.action === 'rename'));
    assert.equal(dry.files, 7); // 6 files and the symlink; directories are not counted
    assert.deepEqual(fs.readdirSync(join(target, src)).sort(), before);
    assert.equal(fs.readFileSync(join(target, src, 'a.txt'), 'utf8'), 'changed again\n');

    const fresh = join(restoreRoot, 'fresh');
    const none = await runRestore(restoreParams(first.snapshot, { dryRun: true, to: fresh }), {
      ...context([]),
      restoreRoots: [restoreRoot],
    });
    assert.deepEqual([none.pretreatment.target, none.pretreatment.conflicts, none.pretreatment.ok, none.pretreatment.problems], [fresh, [], true, []]);
    assert.equal(fs.existsSync(fresh), false);

    const blocked = join(restoreRoot, 'a-file');
    fs.writeFileSync(blocked, 'x');
    const bad = await runRestore(restoreParams(first.snapshot, { dryRun: true, to: blocked }), {
      ...context([]),
      restoreRoots: [restoreRoot],
    });
    assert.equal(bad.pretreatment.ok, false);
    assert.match(bad.pretreatment.problems[0]!, /not a directory/);
  });

  it('refuses a target outside the restore roots, even through a symlink, before writing', async () => {
    const outside = join(work, 'outside');
    fs.symlinkSync(work, join(restoreRoot, 'up'));
    for (const to of [outside, join(restoreRoot, 'up', 'outside')]) {
      await assert.rejects(
        runRestore(restoreParams(first.snapshot, { to }), { ...context([]), restoreRoots: [restoreRoot] }),
        (e) => isCairnError(e, 'E_FORBIDDEN'),
      );
    }
    assert.equal(fs.existsSync(outside), false);
  });

  it('a canceled restore stops with E_CONFLICT canceled and leaves no temporary file', async () => {
    const controller = new AbortController();
    controller.abort(Object.assign(new Error('canceled'), { code: 'E_CONFLICT' }));
    const to = join(restoreRoot, 'canceled');
    await assert.rejects(
      runRestore(restoreParams(first.snapshot, { to }), { ...context([], { signal: controller.signal }), restoreRoots: [] }),
      /canceled/,
    );
    const left = fs.existsSync(to) ? fs.readdirSync(to, { recursive: true }).map(String) : [];
    assert.ok(!left.some((n) => n.includes('.cairn-')), left.join(','));
  });

  it('onDirectory tells each directory once with its final entries, and a canceled backup saves no snapshot', async () => {
    const seen: { dir: string; names: string[] }[] = [];
    const client = new StorageClient({ url: server.url, ca, accessKey });
    const before = await client.listSnapshots(VAULT);
    const common = { client, vault: VAULT, keys, chunker: DEFAULT_CHUNKER, paths: [src], host: 'h', workers: 2 };
    await backup({
      ...common,
      onDirectory: (dir: Buffer, nodes: TreeNode[]) =>
        seen.push({ dir: dir.toString('latin1'), names: nodes.map((n) => n.name.toString('latin1')) }),
    });
    const dirs = seen.map((s) => s.dir);
    assert.equal(new Set(dirs).size, dirs.length);
    assert.equal(dirs.at(-1), '/', "'/' comes last");
    assert.ok(dirs.indexOf(`${src}/sub/deeper`) < dirs.indexOf(`${src}/sub`), 'children before parents');
    assert.deepEqual(seen.find((s) => s.dir === `${src}/sub`)!.names, ['big.bin', 'deeper']);
    assert.deepEqual(seen.find((s) => s.dir === `${src}/empty`)!.names, []);

    // cancel as soon as the first directory is done: the walk stops, no snapshot is stored
    const controller = new AbortController();
    await assert.rejects(
      backup({
        ...common,
        signal: controller.signal,
        onDirectory: () => controller.abort(new Error('canceled by test')),
      }),
      /canceled by test/,
    );
    assert.equal((await client.listSnapshots(VAULT)).length, before.length + 1);
    client.close();
  });

  it('a canceled backup run stops before asking the server to record anything', async () => {
    const controller = new AbortController();
    controller.abort(new Error('canceled'));
    const calls: Recorded[] = [];
    await assert.rejects(runBackup(backupParams({ run: 10 }), context(calls, { signal: controller.signal })), /canceled/);
    assert.ok(!calls.some((c) => c.method === 'snapshotCreated'));
  });
});

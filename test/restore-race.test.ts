// The restore race (issue 13, item 6): a user who can write inside the restore target swaps a
// directory for a symlink to a directory outside it while root restores. A restore that checked a
// path and then used it would write, chmod, chown and set times outside; one that works in
// directories held open (src/agent/restore/dir-handles.ts) cannot. Real processes: a storage
// server over TLS and `cairn direct restore`, whose restorer is the agent's, run as root when the
// suite is. Outside the target, every entry's type, content, mode, owner, size, mtime and ctime
// (chmod, chown, utimes and a create below all move a ctime or an mtime) must be as before.
//
// Meaningful, not lucky: the first test lands the swap deterministically between opening a
// directory and writing into it (a test hook, src/agent/restore/swap-hook.ts), shows the files in
// the directory held, and shows that the very same write made by path (as the old path check did)
// changes the outside snapshot. dir-handles.test.ts has the unit version of the same proof.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restore } from '../src/agent/restore/restorer.ts';
import { loadSnapshot } from '../src/agent/snapshots.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { parseKeyFile, unwrapKeys, type VaultKeys } from '../src/core/keys.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type CliResult, runCairn } from './support/cli.ts';
import { type Cluster, startCluster } from './support/cluster.ts';
import { assertRsyncIdentical, endedRun } from './support/crash-support.ts';
import { directConnection, initAndBackup } from './support/direct-vault.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const PASSPHRASE = 'restore race passphrase';
const VAULT = 'v';
const DIRS = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'];
const FILES_PER_DIR = 30;
const asRoot = process.getuid?.() === 0;

type Damaged = { path: string; reason: string };

/**
 * Every damaged entry was refused as unsafe, or is a later name of a hard link whose first name
 * was (it cannot be linked to a file that was not restored).
 */
function assertOnlyUnsafe(damaged: Damaged[]): void {
  const unsafe = new Set(damaged.filter((d) => /E_UNSAFE_PATH/.test(d.reason)).map((d) => d.path));
  for (const d of damaged) {
    if (unsafe.has(d.path)) continue;
    const first = /^E_NOT_FOUND: hard link not restored: its first name (.*) is damaged$/.exec(d.reason)?.[1];
    assert.ok(first !== undefined && unsafe.has(first), `${d.path}: ${d.reason}`);
  }
}

/** Every entry under `root` (itself included) as a line: what a write, chmod, chown or utimes would change. */
function outsideState(root: string): string[] {
  const lines: string[] = [];
  const visit = (p: string) => {
    const st = fs.lstatSync(p, { bigint: true });
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} m${st.mtimeNs} c${st.ctimeNs} n${st.nlink}`;
    if (st.isFile()) what += ` ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`;
    if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(p)}`;
    lines.push(`${p.slice(root.length) || '/'} ${what}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) visit(join(p, name));
  };
  visit(root);
  return lines;
}

/** Entries of a process's descriptors (this one's by default) that point under `dir`. */
function fdsUnder(dir: string, pid: number | 'self' = 'self'): string[] {
  const open: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const to = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (to.startsWith(dir)) open.push(to);
    } catch {
      // closed meanwhile (readdir's own descriptor)
    }
  }
  return open;
}

/**
 * Several directories of small and multi-chunk files, with a subdirectory, a symlink, a FIFO, a
 * hard link pair and (as root) another owner: every kind of write the restorer makes.
 */
function buildTree(src: string): void {
  for (const [i, d] of DIRS.entries()) {
    const dir = join(src, d);
    fs.mkdirSync(join(dir, 'sub'), { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) {
      const size = f === 0 ? 300_000 : 500 + ((f * 977) % 4000);
      fs.writeFileSync(join(dir, `f${f}`), Buffer.alloc(size, `${d}/${f} `), { mode: 0o640 });
    }
    fs.writeFileSync(join(dir, 'sub', 'inner'), `inner of ${d}\n`);
    fs.symlinkSync(`f${i}`, join(dir, 'link'));
    fs.linkSync(join(dir, 'f1'), join(dir, 'f1-again'));
    spawnSync('mkfifo', ['-m', '0620', join(dir, 'pipe')]);
    fs.chmodSync(dir, 0o750);
    if (asRoot) spawnSync('chown', ['-hR', '4321:4321', dir]);
  }
}

/** Outside the target: names the restore writes, so a write, chmod or chown through a swap would land on one. Returns its state. */
function buildOutside(outside: string): string[] {
  fs.mkdirSync(join(outside, 'sub'), { recursive: true });
  for (const name of ['f0', 'f1', 'f2', 'link', 'pipe']) fs.writeFileSync(join(outside, name), `outside ${name}\n`, { mode: 0o600 });
  fs.writeFileSync(join(outside, 'sub', 'inner'), 'outside inner\n', { mode: 0o600 });
  fs.utimesSync(outside, 1_000_000, 1_000_000);
  return outsideState(outside);
}

describe('a restore racing a directory swapped for a symlink', () => {
  let server: StorageProcess;
  let work: string;
  let src: string;
  let outside: string;
  let snapshot: string;
  let connection: string[];
  let before0: string[];

  function cairn(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return runCairn(args, { CAIRN_PASSPHRASE: PASSPHRASE, ...env });
  }

  const restoreTo = async (dst: string, env: Record<string, string> = {}) => {
    const run = await cairn(['direct', 'restore', ...connection, snapshot, '--to', dst, '--json'], { CAIRN_TEST: '1', ...env });
    assert.ok(run.code === 0 || run.code === 1, `exit ${run.code}: ${run.stderr}`);
    const result = JSON.parse(run.stdout) as { files: number; damaged: Damaged[] };
    assert.equal(run.code, result.damaged.length ? 1 : 0, run.stderr);
    return result;
  };

  before(async () => {
    server = await startStorage();
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-race-'));
    src = join(work, 'src');
    buildTree(src);
    outside = join(work, 'outside');
    before0 = buildOutside(outside);

    connection = directConnection(server, VAULT);
    snapshot = await initAndBackup(cairn, connection, src);
  });

  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('a directory swapped right after it was opened: every write lands in the directory held, nothing outside', async () => {
    const dst = join(work, 'dst-hook');
    const swapped = join(dst, src, 'd2');
    const hook = join(work, 'swap.json');
    fs.writeFileSync(hook, JSON.stringify({ dir: swapped, outside }));
    const result = await restoreTo(dst, { CAIRN_TEST_RESTORE_SWAP_FILE: hook });
    assert.deepEqual(outsideState(outside), before0, 'nothing outside the target changed');
    assert.deepEqual(result.damaged, []);
    assert.ok(fs.lstatSync(swapped).isSymbolicLink(), 'the hook swapped the directory');
    // d2 as a whole, its metadata included, is where the held descriptor pointed: moved aside
    const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${join(src, 'd2')}/`, `${swapped}.moved/`], {
      encoding: 'utf8',
    });
    assert.equal(rsync.status, 0, rsync.stderr);
    assert.equal(rsync.stdout, '', `d2.moved differs from the source:\n${rsync.stdout}`);

    // the check is able to fail: the same write by path, as a check-then-use restore made it
    const probe = join(work, 'probe');
    fs.cpSync(outside, probe, { recursive: true, preserveTimestamps: true });
    const probeBefore = outsideState(probe);
    fs.writeFileSync(hook, JSON.stringify({ dir: swapped, outside: probe }));
    fs.rmSync(swapped);
    fs.symlinkSync(probe, swapped);
    fs.chmodSync(join(swapped, 'f0'), 0o640);
    assert.notDeepEqual(outsideState(probe), probeBefore);
  });

  it('a swapped directory that has to be reopened is refused (E_UNSAFE_PATH), nothing outside', async () => {
    const dst = join(work, 'dst-reopen');
    const swapped = join(dst, src, 'd2');
    const hook = join(work, 'swap-reopen.json');
    fs.writeFileSync(hook, JSON.stringify({ dir: swapped, outside }));
    // two descriptors: d2's is closed long before its files arrive, and reopening it meets the symlink
    const result = await restoreTo(dst, { CAIRN_TEST_RESTORE_SWAP_FILE: hook, CAIRN_TEST_RESTORE_DIR_FDS: '2' });
    assert.deepEqual(outsideState(outside), before0, 'nothing outside the target changed');
    assert.ok(result.damaged.length > 0, 'files of the swapped directory were refused');
    assertOnlyUnsafe(result.damaged);
    for (const d of result.damaged) assert.ok(d.path.startsWith(join(src, 'd2')), `${d.path} is not in the swapped directory`);
    assert.ok(result.damaged.some((d) => /d2 became a symlink/.test(d.reason)), JSON.stringify(result.damaged.slice(0, 3)));
    // the other directories are whole
    for (const d of ['d0', 'd5']) {
      const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${join(src, d)}/`, `${join(dst, src, d)}/`], {
        encoding: 'utf8',
      });
      assert.equal(rsync.stdout, '', `${d} differs:\n${rsync.stdout}`);
    }
  });

  it('directories swapped for a symlink and back in a loop all through the restore: nothing outside changes', async (t) => {
    const dst = join(work, 'dst-loop');
    const dirs = DIRS.map((d) => join(dst, src, d));
    for (const d of dirs) fs.mkdirSync(d, { recursive: true }); // the user's directories in the target
    const loop = swapLoop(outside, dirs);
    let result: { files: number; damaged: Damaged[] };
    let swaps: number;
    try {
      // a few descriptors only: directories are closed and reopened all the time, meeting the swaps
      result = await restoreTo(dst, { CAIRN_TEST_RESTORE_DIR_FDS: '4' });
    } finally {
      swaps = await loop.stop();
    }
    t.diagnostic(`${swaps} swaps; ${result.files} entries restored, ${result.damaged.length} refused`);
    assert.ok(swaps > 10, `the loop swapped ${swaps} times`);
    assert.deepEqual(outsideState(outside), before0, 'nothing outside the target changed');
    assertOnlyUnsafe(result.damaged);
  });

  describe('in this process', () => {
    let keys: VaultKeys;
    let client: StorageClient;

    before(async () => {
      const config = JSON.parse(fs.readFileSync(join(server.dataDir, 'vaults', VAULT, 'vault.json'), 'utf8'));
      keys = await unwrapKeys(parseKeyFile(config.keyFile), PASSPHRASE);
      client = await StorageClient.fromFiles(server);
    });

    it('a restore leaves no directory descriptor open, finished or canceled halfway', async () => {
      const record = await loadSnapshot(client, VAULT, keys, snapshot);
      const dst = join(work, 'dst-fds');
      const done = await restore({ client, vault: VAULT, keys, snapshot: record, target: dst, workers: 2 });
      assert.deepEqual(done.damaged, []);
      assert.deepEqual(fdsUnder(dst), []);

      // canceled in the middle of the walk: when the trees below the top directories are asked for
      const canceled = join(work, 'dst-cancel');
      const abort = new AbortController();
      let asked = 0;
      const canceling = new Proxy(client, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (typeof value !== 'function') return value;
          if (key !== 'getBlobs') return value.bind(target); // its private fields are the target's
          return (...args: unknown[]) => {
            if (++asked === 6) abort.abort(new Error('canceled by the test'));
            return value.apply(target, args);
          };
        },
      });
      await assert.rejects(
        restore({ client: canceling, vault: VAULT, keys, snapshot: record, target: canceled, workers: 2, signal: abort.signal }),
        /canceled by the test/,
      );
      assert.ok(fs.readdirSync(join(canceled, src)).length > 0, 'the walk had made directories');
      // a call in flight at the cancel closes its directory when it settles
      for (let i = 0; i < 100 && fdsUnder(canceled).length; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(fdsUnder(canceled), []);
    });

    it('the file system is flushed once, after every file is in place and before the restore succeeds; a failed flush fails it', async () => {
      const record = await loadSnapshot(client, VAULT, keys, snapshot);
      const dst = join(work, 'dst-sync');
      const events: string[] = [];
      const done = await restore({
        client, vault: VAULT, keys, snapshot: record, target: dst, workers: 2,
        syncFs: async (fd) => {
          const files = DIRS.reduce((n, d) => n + fs.readdirSync(join(dst, src, d)).length, 0);
          events.push(`syncfs dev ${fs.fstatSync(fd).dev} with ${files} files in place`);
        },
      }).then((r) => {
        events.push('succeeded');
        return r;
      });
      assert.deepEqual(done.damaged, []);
      // every entry in place, no temporary name left, when the flush runs
      const entries = DIRS.reduce((n, d) => n + fs.readdirSync(join(src, d)).length, 0);
      assert.deepEqual(events, [`syncfs dev ${fs.statSync(dst).dev} with ${entries} files in place`, 'succeeded']);

      const failing = join(work, 'dst-sync-fail');
      await assert.rejects(
        restore({ client, vault: VAULT, keys, snapshot: record, target: failing, workers: 2, syncFs: () => Promise.reject(new Error('EIO')) }),
        (e) => e instanceof Error && /could not be flushed to disk: EIO/.test(e.message),
      );
      assert.deepEqual(fdsUnder(failing), []);
    });
  });
});

describe('a restore run by an agent, a directory swapped right after it was opened', () => {
  let c: Cluster;
  let work: string;
  let hook: string;

  before(async () => {
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-race-agent-'));
    hook = join(work, 'swap.json');
    c = await startCluster({ agents: ['race-agent'], storages: ['race-storage'], env: { CAIRN_TEST: '1', CAIRN_TEST_RESTORE_SWAP_FILE: hook } });
  });

  after(async () => {
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('writes into the directory the agent holds, nothing outside, and the agent keeps no descriptor of the target', async () => {
    const src = join(work, 'src');
    buildTree(src);
    const outside = join(work, 'outside');
    const before0 = buildOutside(outside);
    const create = await c.cli(['job', 'create', 'race', '--agent', 'race-agent', '--storage', 'race-storage', '--path', src], undefined, {
      CAIRN_PASSPHRASE: PASSPHRASE,
    });
    assert.equal(create.code, 0, create.stderr);
    const backup = await endedRun(c, (await c.json<RunJson>(['job', 'run', 'race'])).id);
    assert.equal(backup.status, 'succeeded', JSON.stringify(backup));

    const dst = join(work, 'dst');
    const swapped = join(dst, src, 'd3');
    fs.writeFileSync(hook, JSON.stringify({ dir: swapped, outside }));
    const run = await c.cli(['restore', backup.snapshot!, '--to', dst, '--wait', '--json']);
    assert.deepEqual(outsideState(outside), before0, 'nothing outside the target changed');
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as RunJson).status, 'succeeded', run.stdout);
    assert.ok(fs.lstatSync(swapped).isSymbolicLink(), 'the hook swapped the directory');
    assertRsyncIdentical(join(src, 'd3'), `${swapped}.moved`);
    assertRsyncIdentical(join(src, 'd4'), join(dst, src, 'd4'));
    assert.deepEqual(fdsUnder(dst, c.agents.get('race-agent')!.process.pid!), []);
  });
});

/**
 * A child process that swaps each of `dirs` for a symlink to `outside` and back, over and over:
 * a symlink for a moment, then the real directory (same inode) for about a millisecond, so the
 * restore gets on in them and its calls keep meeting swaps.
 */
function swapLoop(outside: string, dirs: string[]): { stop: () => Promise<number> } {
  const script = `
    const fs = require('node:fs');
    const [outside, ...dirs] = process.argv.slice(1);
    let swaps = 0;
    let stopping = false;
    process.on('SIGTERM', () => { stopping = true; });
    const toSymlink = () => {
      for (const d of dirs) {
        try { fs.renameSync(d, d + '.aside'); } catch { continue; }
        try { fs.symlinkSync(outside, d); swaps++; } catch {}
      }
      setImmediate(back);
    };
    const back = () => {
      for (const d of dirs) {
        try { if (fs.lstatSync(d).isSymbolicLink()) fs.unlinkSync(d); } catch {}
        try { fs.renameSync(d + '.aside', d); } catch {}
      }
      if (stopping) { process.stdout.write(String(swaps)); return; }
      setTimeout(toSymlink, 1);
    };
    process.stdout.write('started\\n');
    toSymlink();
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script, outside, ...dirs], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve(Number(out.replace('started\n', '')) || 0));
        child.kill('SIGTERM');
      }),
  };
}

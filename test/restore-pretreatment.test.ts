// Restore pretreatment on a real cluster (SPEC.md "Restore subsystem"): the checks before any
// byte is written. A dry run and a real restore onto a full filesystem (a 1 MB tmpfs), onto a
// read-only one, of a snapshot whose chunks the storage server lacks, and by an offline agent
// each end `failed` with the reason in the run's pretreatment, and the target is left exactly as
// it was; conflicting files are listed with what each policy does, and the real restore does it.
// Mounting needs root (these tests run as root in the project's VM); without it the mount cases
// are skipped, saying so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { BLOB_DATA } from '../src/core/blob.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import type { RestorePretreatment } from '../src/protocol/control.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { pseudoRandom } from './support/tree-builder.ts';

const PASSPHRASE = 'correct horse battery staple for tests';
const VAULT = 'admin.store1';
const canMount = process.getuid?.() === 0;
const NO_MOUNT = canMount ? false : 'mounting a tmpfs needs root; this case is skipped';

/** Every entry below `dir` with its type, size and content hash: what "nothing was written" compares. */
function listing(dir: string): string[] {
  if (!fs.existsSync(dir)) return ['(absent)'];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const st = fs.lstatSync(join(dir, name));
      if (!st.isFile()) return `${name} ${st.isDirectory() ? 'dir' : 'other'}`;
      return `${name} ${st.size} ${fs.readFileSync(join(dir, name)).toString('base64').slice(0, 24)}`;
    });
}

/** A tmpfs of `size` mounted on a fresh folder; unmounted by the returned function. */
function mountTmpfs(size: string): { dir: string; unmount: () => void } {
  const dir = tempDir('cairn-mount-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return { dir, unmount: () => execFileSync('umount', [dir]) };
}

describe('restore pretreatment', { concurrency: 1 }, () => {
  let c: Cluster;
  let src: string;
  let snapshot: string;

  /** `cairn restore` to the end; the run as `run show --json` then gives it. */
  async function restoreRun(to: string, flags: string[]): Promise<{ code: number; run: RunJson; pre: RestorePretreatment }> {
    const r = await c.cli(['restore', snapshot, '--to', to, '--wait', '--json', ...flags]);
    const ended = JSON.parse(r.stdout) as RunJson;
    const run = await c.json<RunJson>(['run', 'show', String(ended.id)]);
    assert.equal(run.status, ended.status);
    return { code: r.code, run, pre: run.pretreatment as RestorePretreatment };
  }

  /** A dry run and then a real restore to `to` both fail on `problem`, writing nothing. */
  async function bothRefused(to: string, problem: RegExp, listed = to): Promise<RestorePretreatment> {
    const before = listing(listed);
    let pre: RestorePretreatment | undefined;
    for (const flags of [['--dry-run'], []]) {
      const r = await restoreRun(to, flags);
      const what = `${flags.join(' ') || 'real restore'}: ${JSON.stringify(r.run)}`;
      assert.equal(r.code, 1, what);
      assert.equal(r.run.status, 'failed', what);
      assert.equal(r.pre.ok, false, what);
      assert.ok(r.pre.problems.some((p) => problem.test(p)), what);
      assert.match(r.run.error!, /^pretreatment found problems: /);
      assert.equal(r.run.damaged.length, 0);
      assert.deepEqual(listing(listed), before, `${what}: nothing written`);
      pre = r.pre;
    }
    return pre!;
  }

  before(async () => {
    c = await startCluster({ storages: ['store1'], agents: ['agent1'] });
    src = join(tempDir('cairn-pre-src-'), 'data');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    fs.writeFileSync(join(src, 'a.txt'), 'alpha\n');
    fs.writeFileSync(join(src, 'b.txt'), 'bravo\n');
    fs.writeFileSync(join(src, 'sub', 'c.txt'), 'charlie\n');
    fs.writeFileSync(join(src, 'big.bin'), pseudoRandom(2 * 1024 * 1024, 3));
    const job = await c.cli(['job', 'create', 'pre', '--agent', 'agent1', '--storage', 'store1', '--path', src], undefined, {
      CAIRN_PASSPHRASE: PASSPHRASE,
    });
    assert.equal(job.code, 0, job.stderr);
    const run = await c.json<RunJson>(['job', 'run', 'pre', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    snapshot = run.snapshot!;
  });

  after(async () => {
    await c?.stop();
  });

  it('a full filesystem: not enough free space, nothing written', { skip: NO_MOUNT }, async () => {
    const disk = mountTmpfs('1m');
    try {
      const pre = await bothRefused(disk.dir, /^not enough free space on .+: need \d+ bytes, \d+ free$/);
      const space = pre.space!.find((s) => s.mount === fs.realpathSync(disk.dir));
      assert.ok(space, JSON.stringify(pre.space));
      assert.equal(space.freeBytes, 1024 * 1024);
      assert.ok(space.neededBytes > 2 * 1024 * 1024, JSON.stringify(space));
      assert.equal(pre.plan!.bytes, 2 * 1024 * 1024 + 6 + 6 + 8);
    } finally {
      disk.unmount();
    }
  });

  it('a read-only target: refused, nothing written', { skip: NO_MOUNT }, async () => {
    const disk = mountTmpfs('64m');
    try {
      fs.writeFileSync(join(disk.dir, 'kept.txt'), 'already here\n');
      execFileSync('mount', ['-o', 'remount,ro', disk.dir]);
      const to = join(disk.dir, 'restore-here');
      await bothRefused(to, new RegExp(`^${disk.dir} is on a read-only filesystem$`), disk.dir);
    } finally {
      disk.unmount();
    }
  });

  for (const policy of ['overwrite', 'skip', 'rename'] as const) {
    it(`conflicting files under --conflict ${policy}: the dry run lists them, the restore does that`, async () => {
      const to = tempDir(`cairn-pre-${policy}-`);
      const here = (...p: string[]) => join(to, src, ...p);
      fs.mkdirSync(here('sub'), { recursive: true });
      fs.writeFileSync(here('a.txt'), 'mine\n');
      fs.writeFileSync(here('sub', 'c.txt'), 'mine too\n');
      const before = listing(to);

      const dry = await restoreRun(to, ['--dry-run', '--conflict', policy]);
      assert.equal(dry.run.status, 'succeeded', JSON.stringify(dry.run));
      assert.equal(dry.code, 0);
      assert.equal(dry.pre.ok, true);
      const expected = [`${src}/a.txt`, `${src}/sub/c.txt`].map((path) => ({ path, action: policy }));
      assert.deepEqual([...dry.pre.conflicts].sort((x, y) => x.path.localeCompare(y.path)), expected);
      const counts = { renamed: policy === 'rename' ? 2 : 0, skipped: policy === 'skip' ? 2 : 0, overwritten: policy === 'overwrite' ? 2 : 0 };
      assert.deepEqual(dry.run.conflicts, counts, 'the dry run counts what it would do');
      assert.equal(dry.pre.missingChunks, 0);
      // skipped files are not written: neither counted in the plan nor in the space needed
      const all = 2 * 1024 * 1024 + 6 + 6 + 8;
      assert.equal(dry.pre.plan!.bytes, policy === 'skip' ? all - 6 - 8 : all);
      assert.equal(dry.pre.plan!.files, policy === 'skip' ? 2 : 4);
      // the reads, ordered by pack: a restore this small is one request, reading each pack once
      const plan = dry.pre.plan!;
      assert.equal(plan.requests, 1);
      assert.ok(plan.packs! >= 1);
      assert.equal(plan.packReads, plan.packs);
      assert.equal(plan.order!.length, plan.packs);
      assert.equal(plan.order!.reduce((n, p) => n + p.chunks, 0), plan.chunks);
      assert.equal(plan.order!.reduce((n, p) => n + p.bytes, 0), plan.readBytes);
      assert.deepEqual(plan.order!.map((p) => p.pack), [...plan.order!.map((p) => p.pack)].sort(), 'one request reads its packs in name order');
      assert.deepEqual(listing(to), before, 'a dry run writes nothing');

      const real = await restoreRun(to, ['--conflict', policy]);
      assert.equal(real.run.status, 'succeeded', JSON.stringify(real.run));
      assert.deepEqual([...real.pre.conflicts].sort((x, y) => x.path.localeCompare(y.path)), expected);
      assert.deepEqual(real.run.conflicts, counts);
      assert.equal(fs.readFileSync(here('b.txt'), 'utf8'), 'bravo\n');
      assert.ok(fs.readFileSync(here('big.bin')).equals(pseudoRandom(2 * 1024 * 1024, 3)));
      const names = fs.readdirSync(here()).sort();
      const renamed = names.filter((n) => n.startsWith('a.txt.restored-'));
      if (policy === 'overwrite') {
        assert.equal(fs.readFileSync(here('a.txt'), 'utf8'), 'alpha\n');
        assert.equal(fs.readFileSync(here('sub', 'c.txt'), 'utf8'), 'charlie\n');
        assert.deepEqual(renamed, []);
      } else if (policy === 'skip') {
        assert.equal(fs.readFileSync(here('a.txt'), 'utf8'), 'mine\n');
        assert.equal(fs.readFileSync(here('sub', 'c.txt'), 'utf8'), 'mine too\n');
        assert.deepEqual(renamed, []);
        // said in text too: now every one of the four files is there already
        const again = await c.cli(['restore', snapshot, '--to', to, '--wait', '--conflict', 'skip']);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /^run \d+ succeeded: restore of snapshot [0-9a-f]{12}, .*, existing files 0 renamed, 4 skipped, 0 overwritten$/m);
      } else {
        assert.equal(fs.readFileSync(here('a.txt'), 'utf8'), 'mine\n');
        assert.equal(renamed.length, 1, names.join(','));
        assert.equal(fs.readFileSync(here(renamed[0]!), 'utf8'), 'alpha\n');
        const sub = fs.readdirSync(here('sub')).filter((n) => n.startsWith('c.txt.restored-'));
        assert.equal(sub.length, 1);
        assert.equal(fs.readFileSync(here('sub', sub[0]!), 'utf8'), 'charlie\n');
      }
    });
  }

  it('an --include the snapshot lacks: the pretreatment fails naming it, nothing written', async () => {
    const to = tempDir('cairn-pre-include-');
    const lacking = [`${src}/nope.txt`, `${src}/a.txt/below`, '/elsewhere'];
    const flags = [`${src}/b.txt`, ...lacking].flatMap((p) => ['--include', p]);
    for (const dryRun of [['--dry-run'], []]) {
      const r = await restoreRun(to, [...flags, ...dryRun]);
      const what = JSON.stringify(r.run);
      assert.equal(r.code, 1, what);
      assert.equal(r.run.status, 'failed', what);
      assert.deepEqual(r.pre.problems, lacking.map((p) => `--include ${p}: not in the snapshot`), what);
      for (const p of lacking) assert.ok(r.run.error!.includes(`--include ${p}: not in the snapshot`), what);
      assert.deepEqual(listing(to), [], 'nothing written');
    }
    const text = await c.cli(['restore', snapshot, '--to', to, '--wait', '--include', `${src}/nope.txt`]);
    assert.equal(text.code, 1);
    assert.match(text.stderr, new RegExp(`^cairn: run \\d+ failed: restore of snapshot [0-9a-f]{12}: pretreatment found problems: --include ${src}/nope\\.txt: not in the snapshot$`, 'm'));
  });

  it('chunks the storage server lacks: the first file needing them is named, nothing written', async () => {
    // A second snapshot holding one file, whose data chunks are then taken out of the storage
    // server's index (a pack file lost from disk is the next case). Its packs also hold the
    // snapshot's trees, which stay, so the walk reaches the file.
    const index = join(c.storages.get('store1')!.dataDir, 'vaults', VAULT, 'index.sqlite');
    const packsNow = () => {
      const db = new DatabaseSync(index, { readOnly: true });
      try {
        return (db.prepare('SELECT pk FROM packs').all() as { pk: number }[]).map((r) => r.pk);
      } finally {
        db.close();
      }
    };
    const lonely = join(tempDir('cairn-pre-lost-'), 'lost');
    fs.mkdirSync(lonely);
    fs.writeFileSync(join(lonely, 'only.bin'), pseudoRandom(300 * 1024, 9));
    const job = await c.cli(['job', 'create', 'lost', '--agent', 'agent1', '--storage', 'store1', '--path', lonely]);
    assert.equal(job.code, 0, job.stderr);
    const packsBefore = new Set(packsNow());
    const run = await c.json<RunJson>(['job', 'run', 'lost', '--wait']);
    assert.equal(run.status, 'succeeded');
    const fresh = packsNow().filter((pk) => !packsBefore.has(pk));
    assert.ok(fresh.length > 0, 'the new snapshot stored packs of its own');
    const db = new DatabaseSync(index);
    let removed = 0;
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      const drop = db.prepare('DELETE FROM chunks WHERE pack = ? AND type = ?');
      for (const pk of fresh) removed += Number(drop.run(pk, BLOB_DATA).changes);
    } finally {
      db.close();
    }
    assert.ok(removed > 0, 'the new packs held data chunks');
    const saved = snapshot;
    snapshot = run.snapshot!;
    try {
      const to = tempDir('cairn-pre-lost-to-');
      const pre = await bothRefused(to, new RegExp(`^${removed} chunks? missing from the storage server; first affected file: ${lonely}/only.bin$`));
      assert.equal(pre.missingChunks, removed);
      assert.equal(pre.plan!.chunks, removed);
    } finally {
      snapshot = saved;
    }
  });

  it('a pack file lost from disk: its chunks are missing to pretreatment and verify, and a full backup stores them again', async () => {
    // Backup 1 stores kept.bin (and its trees) in packs of its own; backup 2 adds new.bin, and its
    // snapshot reuses kept.bin's chunks from backup 1's packs. Backup 1's pack files are then
    // deleted, their index rows left as they were: snapshot 2's trees are intact, kept.bin is not.
    const storageDir = c.storages.get('store1')!.dataDir;
    const index = join(storageDir, 'vaults', VAULT, 'index.sqlite');
    const packNames = () => {
      const db = new DatabaseSync(index, { readOnly: true });
      try {
        return (db.prepare('SELECT name FROM packs').all() as { name: Uint8Array }[]).map((r) => Buffer.from(r.name).toString('hex'));
      } finally {
        db.close();
      }
    };
    const home = join(tempDir('cairn-pre-gone-'), 'home');
    fs.mkdirSync(home);
    const kept = pseudoRandom(400 * 1024, 21);
    fs.writeFileSync(join(home, 'kept.bin'), kept);
    assert.equal((await c.cli(['job', 'create', 'gone', '--agent', 'agent1', '--storage', 'store1', '--path', home])).code, 0);
    const before1 = new Set(packNames());
    const first = await c.json<RunJson>(['job', 'run', 'gone', '--wait']);
    assert.equal(first.status, 'succeeded');
    const firstPacks = packNames().filter((p) => !before1.has(p));
    assert.ok(firstPacks.length > 0);
    fs.writeFileSync(join(home, 'new.bin'), pseudoRandom(100 * 1024, 22));
    const second = await c.json<RunJson>(['job', 'run', 'gone', '--wait']);
    assert.equal(second.status, 'succeeded');
    assert.equal(second.filesChanged, 1, 'kept.bin was not read again: its chunks stay in backup 1\'s packs');
    for (const p of firstPacks) fs.unlinkSync(join(storageDir, 'vaults', VAULT, 'packs', p.slice(0, 2), p));

    const saved = snapshot;
    snapshot = second.snapshot!;
    try {
      const to = tempDir('cairn-pre-gone-to-');
      const pre = await bothRefused(to, new RegExp(`^\\d+ chunks? missing from the storage server; first affected file: ${home}/kept.bin$`));
      assert.ok(pre.missingChunks! > 0);
      const catalog = await c.cli(['verify', second.snapshot!, '--level', 'catalog', '--wait', '--json']);
      const verified = JSON.parse(catalog.stdout) as RunJson;
      assert.equal(catalog.code, 1);
      assert.equal(verified.status, 'failed');
      assert.deepEqual([...new Set(verified.damaged.map((d) => d.path))], [`${home}/kept.bin`]);
      assert.match(verified.damaged[0]!.reason, /missing from the storage server/);

      // a full backup reads kept.bin again; `missing` says its chunks are gone, so they are stored
      // again, and the old snapshot, which names the same chunks, restores whole once more
      const full = await c.json<RunJson>(['job', 'run', 'gone', '--level', 'full', '--wait']);
      assert.equal(full.status, 'succeeded', JSON.stringify(full));
      assert.ok(full.bytesNew >= kept.length, `kept.bin stored again: ${full.bytesNew} bytes new`);
      const restored = await restoreRun(to, []);
      assert.equal(restored.run.status, 'succeeded', JSON.stringify(restored.run));
      assert.equal(restored.pre.missingChunks, 0);
      assert.ok(fs.readFileSync(join(to, home, 'kept.bin')).equals(kept));
    } finally {
      snapshot = saved;
    }
  });

  it('an offline agent: the restore fails at once, nothing written', async () => {
    await c.agents.get('agent1')!.stop();
    for (let i = 0; i < 300; i++) {
      const agents = await c.json<{ name: string; status: string }[]>(['agent', 'list']);
      if (agents.find((a) => a.name === 'agent1')?.status !== 'online') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const to = tempDir('cairn-pre-offline-');
    const pre = await bothRefused(to, /^agent agent1 is offline$/);
    assert.equal(pre.agentOnline, false);
    assert.equal(pre.target, to);
  });
});

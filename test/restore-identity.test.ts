// End to end through the CLI as real processes: a tree with every hard case (tree-builder.ts) is
// backed up to a real storage server and restored; rsync -aH --checksum finds no difference, the
// sparse file keeps its holes, mtimes match to the microsecond, hard links share an inode, and no
// temporary file is left. Then a chunk and a tree are altered on the server's disk and a chunk
// is dropped from its index: the files they hold are reported damaged and not written, the rest
// is restored.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { StorageClient } from '../src/agent/storage-client.ts';
import { loadSnapshot } from '../src/agent/snapshots.ts';
import { loadTree } from '../src/agent/tree-store.ts';
import { chunkId, parseKeyFile, unwrapKeys, type VaultKeys } from '../src/core/keys.ts';
import { type CliResult, runCairn } from './support/cli.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';
import { type BuiltTree, buildHardTree, join as joinBytes } from './support/tree-builder.ts';

const PASSPHRASE = 'restore test passphrase';
const VAULT = 'v';

function cairn(args: string[]): Promise<CliResult> {
  return runCairn(args, { CAIRN_PASSPHRASE: PASSPHRASE });
}

/** Every path under `root` (itself included), as Buffers, depth-first. */
function walkBytes(root: Buffer, out: Buffer[] = []): Buffer[] {
  out.push(root);
  if (fs.lstatSync(root).isDirectory())
    for (const name of fs.readdirSync(root, { encoding: 'buffer' })) walkBytes(joinBytes(root, name), out);
  return out;
}

describe('restore through the CLI', () => {
  let server: StorageProcess;
  let work: string;
  let src: string;
  let built: BuiltTree;
  let snapshot: string;
  let connection: string[];

  before(async () => {
    server = await startStorage();
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-restore-'));
    src = join(work, 'src');
    built = buildHardTree(src);
    connection = [
      '--storage',
      server.url,
      '--ca',
      server.caFile,
      '--access-key-file',
      server.accessKeyFile,
      '--vault',
      VAULT,
    ];
    const init = await cairn(['direct', 'init', ...connection]);
    assert.equal(init.code, 0, init.stderr);
    const backup = await cairn(['direct', 'backup', ...connection, '--json', src]);
    assert.equal(backup.code, 0, backup.stderr);
    snapshot = JSON.parse(backup.stdout).snapshot;
    assert.match(snapshot, /^[0-9a-f]{64}$/);
  });

  after(async () => {
    await server?.stop();
    // the read-only directory needs its write bit back before it can be removed by a non-root user
    if (work) {
      spawnSync('chmod', ['-R', 'u+rwx', work]);
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  const restoreTo = (dst: string) => cairn(['direct', 'restore', ...connection, snapshot, '--to', dst, '--json']);

  it('restores a tree identical to the source by rsync, holes and times included', async () => {
    const dst = join(work, 'dst');
    const run = await restoreTo(dst);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(result.damaged, []);
    assert.ok(result.files >= built.files.length, `${result.files} files restored`);

    const restored = join(dst, src);
    const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src}/`, `${restored}/`], {
      encoding: 'utf8',
    });
    assert.equal(rsync.status, 0, rsync.stderr);
    assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);

    // holes stay holes
    const sparse = fs.statSync(joinBytes(dst, built.sparse.path));
    assert.equal(sparse.size, built.sparse.size);
    assert.ok(sparse.blocks * 512 < built.sparse.size / 4, `sparse file has ${sparse.blocks * 512} bytes allocated`);

    // mtimes to the microsecond (a double of seconds carries ~0.12 µs at today's epoch), modes, owners
    const srcPaths = walkBytes(Buffer.from(src));
    for (const p of srcPaths) {
      const a = fs.lstatSync(p, { bigint: true });
      const b = fs.lstatSync(joinBytes(dst, p), { bigint: true });
      const shown = p.toString();
      const drift = a.mtimeNs > b.mtimeNs ? a.mtimeNs - b.mtimeNs : b.mtimeNs - a.mtimeNs;
      assert.ok(drift < 1000n, `${shown}: mtime ${b.mtimeNs} differs from ${a.mtimeNs} by ${drift} ns`);
      assert.equal(b.mode, a.mode, `${shown}: mode`);
      if (built.asRoot) assert.deepEqual([b.uid, b.gid], [a.uid, a.gid], `${shown}: owner`);
      if (a.isCharacterDevice()) assert.equal(b.rdev, a.rdev, `${shown}: device number`);
    }

    // three names, one inode
    const inodes = new Set(built.hardlinks.map((p) => fs.lstatSync(joinBytes(dst, p)).ino));
    assert.equal(inodes.size, 1);
    assert.equal(fs.lstatSync(joinBytes(dst, built.hardlinks[0]!)).nlink, 3);
    assert.ok(fs.lstatSync(joinBytes(dst, built.fifo)).isFIFO());

    // no temporary name left behind, nothing more than the source holds
    const dstPaths = walkBytes(Buffer.from(restored));
    assert.ok(!dstPaths.some((p) => /\/\.cairn-[0-9a-f]+\.tmp$/.test(p.toString('latin1'))));
    assert.equal(dstPaths.length, srcPaths.length);
  });

  it('restoring again over the restored tree changes nothing', async () => {
    const dst = join(work, 'dst');
    const run = await restoreTo(dst);
    assert.equal(run.code, 0, run.stderr);
    const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src}/`, `${join(dst, src)}/`], {
      encoding: 'utf8',
    });
    assert.equal(rsync.stdout, '');
  });

  it('restores only the included paths, leaving the metadata of existing directories on the way alone', async () => {
    const dst = join(work, 'partial');
    // an existing directory on the way keeps its own mode and times; ones the restore makes get the snapshot's
    const onTheWay = join(dst, src);
    fs.mkdirSync(onTheWay, { recursive: true });
    fs.chmodSync(onTheWay, 0o751);
    const then = new Date('2001-02-03T04:05:06Z');
    fs.utimesSync(onTheWay, then, then);
    const run = await cairn([
      'direct',
      'restore',
      ...connection,
      snapshot,
      '--to',
      dst,
      '--json',
      '--include',
      join(src, 'names'),
      '--include',
      join(src, 'links', 'relative'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(join(dst, src)).sort(), ['links', 'names']);
    assert.deepEqual(fs.readdirSync(join(dst, src, 'links')), ['relative']);
    const kept = fs.statSync(onTheWay);
    assert.equal(kept.mode & 0o7777, 0o751);
    assert.notEqual(fs.statSync(src).mode & 0o7777, 0o751, "the snapshot has another mode");
    // entries were made inside it, so the kernel moved its mtime on; the snapshot's was not set
    assert.notEqual(kept.mtime.getTime(), fs.statSync(src).mtime.getTime());
    const made = fs.statSync(join(dst, src, 'links'));
    const original = fs.statSync(join(src, 'links'));
    assert.equal(made.mode & 0o7777, original.mode & 0o7777);
    assert.equal(made.mtime.getTime(), original.mtime.getTime());
    const rsync = spawnSync(
      'rsync',
      ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src}/names/`, `${join(dst, src, 'names')}/`],
      { encoding: 'utf8' },
    );
    assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
  });

  it('never writes through a symlink planted in the target', async () => {
    const dst = join(work, 'planted');
    const outside = join(work, 'outside');
    fs.mkdirSync(outside);
    fs.mkdirSync(join(dst, src), { recursive: true });
    fs.symlinkSync(outside, join(dst, src, 'names'));
    const run = await restoreTo(dst);
    assert.equal(run.code, 1, 'a refused entry makes the restore fail');
    const result = JSON.parse(run.stdout);
    assert.deepEqual(
      result.damaged.map((d: { path: string; reason: string }) => [d.path, d.reason.split(':')[0]]),
      [[join(src, 'names'), 'E_UNSAFE_PATH']],
    );
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing was written through the symlink');
    assert.equal(fs.readFileSync(join(dst, src, 'small.txt'), 'utf8'), 'hello, cairn\n');
  });

  describe('with damage on the storage server', () => {
    let keys: VaultKeys;

    before(async () => {
      const config = JSON.parse(fs.readFileSync(join(server.dataDir, 'vaults', VAULT, 'vault.json'), 'utf8'));
      keys = await unwrapKeys(parseKeyFile(config.keyFile), PASSPHRASE);
    });

    const db = () => new DatabaseSync(join(server.dataDir, 'vaults', VAULT, 'index.sqlite'));

    /** Flips one byte in the middle of a blob's sealed bytes, in its pack file on disk. */
    function flipByte(id: Buffer): void {
      const d = db();
      try {
        const row = d
          .prepare('SELECT p.name AS name, c.offset AS offset, c.length AS length FROM chunks c JOIN packs p ON p.pk = c.pack WHERE c.id = ?')
          .get(id) as { name: Uint8Array; offset: number; length: number } | undefined;
        assert.ok(row, `chunk ${id.toString('hex')} is not in the index`);
        const hex = Buffer.from(row.name).toString('hex');
        const pack = join(server.dataDir, 'vaults', VAULT, 'packs', hex.slice(0, 2), hex);
        const fd = fs.openSync(pack, 'r+');
        const at = row.offset + Math.floor(row.length / 2);
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, at);
        b[0] = b[0]! ^ 0x40;
        fs.writeSync(fd, b, 0, 1, at);
        fs.closeSync(fd);
      } finally {
        d.close();
      }
    }

    it('reports files with an altered or missing chunk and a directory with an altered tree, restores the rest', async () => {
      // altered chunk: small.txt is one chunk of its own content
      flipByte(chunkId(keys, Buffer.from('hello, cairn\n')));
      // missing chunk: mode-600's only chunk is dropped from the index
      const d = db();
      d.prepare('DELETE FROM chunks WHERE id = ?').run(chunkId(keys, Buffer.from('private\n')));
      d.close();
      // altered tree: the tree of src/special
      const client = await StorageClient.fromFiles(server);
      try {
        const record = await loadSnapshot(client, VAULT, keys, snapshot);
        let nodes = await loadTree(client, VAULT, keys, record.tree.map((h) => Buffer.from(h, 'hex')));
        for (const part of [...src.split('/').filter(Boolean), 'special']) {
          const dir = nodes.find((n) => n.name.equals(Buffer.from(part)));
          assert.ok(dir?.subtree, `no directory ${part}`);
          if (part === 'special') flipByte(dir.subtree[0]!);
          else nodes = await loadTree(client, VAULT, keys, dir.subtree);
        }
      } finally {
        client.close();
      }

      const dst = join(work, 'damaged');
      const run = await restoreTo(dst);
      assert.equal(run.code, 1, 'damage makes the restore fail');
      const result = JSON.parse(run.stdout);
      const damaged = new Map(result.damaged.map((x: { path: string; reason: string }) => [x.path, x.reason]));
      assert.deepEqual([...damaged.keys()].sort(), [join(src, 'mode-600'), join(src, 'small.txt'), join(src, 'special')].sort());
      assert.match(damaged.get(join(src, 'small.txt')) as string, /E_CORRUPT/);
      assert.match(damaged.get(join(src, 'mode-600')) as string, /E_NOT_FOUND/);
      assert.match(damaged.get(join(src, 'special')) as string, /E_CORRUPT/);

      const restored = join(dst, src);
      assert.ok(!fs.existsSync(join(restored, 'small.txt')), 'a damaged file is not written');
      assert.ok(!fs.existsSync(join(restored, 'mode-600')));
      assert.deepEqual(fs.readdirSync(join(restored, 'special')), []);
      assert.ok(!walkBytes(Buffer.from(restored)).some((p) => /\.cairn-[0-9a-f]+\.tmp$/.test(p.toString('latin1'))));
      // everything else is there and identical
      const rsync = spawnSync(
        'rsync',
        ['-aH', '--checksum', '--dry-run', '--itemize-changes', '--exclude=/small.txt', '--exclude=/mode-600', '--exclude=/special', `${src}/`, `${restored}/`],
        { encoding: 'utf8' },
      );
      assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
    });
  });
});

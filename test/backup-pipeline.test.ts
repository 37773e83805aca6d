// The backup pipeline against a real storage server process over TLS: a tree with every awkward
// case is stored so that its trees decode to the right metadata and its chunks to the right
// bytes; a backup with nothing changed reads nothing and uploads no pack; a changed file is
// read alone; a 100-byte insert in the middle of a big file re-stores about two chunks.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from '../src/agent/backup/archiver.ts';
import { listSnapshots, loadSnapshot } from '../src/agent/snapshots.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { loadTree } from '../src/agent/tree-store.ts';
import { BLOB_DATA, BLOB_TREE, openBlob } from '../src/core/blob.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, wrapKeys } from '../src/core/keys.ts';
import { parsePack } from '../src/core/pack-verifier.ts';
import type { SnapshotRecord } from '../src/core/snapshot.ts';
import type { TreeNode } from '../src/core/tree.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';
import { buildHardTree, pseudoRandom } from './support/tree-builder.ts';

const keys = generateVaultKeys();
const vault = 'pipeline';
const chunker = DEFAULT_CHUNKER;

function packFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'vaults', vault, 'packs');
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('backup pipeline', () => {
  let server: StorageProcess;
  let client: StorageClient;
  let work: string;
  let src: string;

  before(async () => {
    server = await startStorage();
    client = await StorageClient.fromFiles(server);
    await client.createVault(vault, { version: 1, chunker, keyFile: await wrapKeys(keys, 'pw') });
    work = mkdtempSync(join(tmpdir(), 'cairn-backup-'));
    src = join(work, 'src');
    buildHardTree(src);
  });

  after(async () => {
    client?.close();
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const run = (parent?: SnapshotRecord, paths = [src]) =>
    backup({ client, vault, keys, chunker, paths, host: 'test-host', parent, workers: 2 });

  /** Walks the snapshot's trees down to `path` and returns the nodes of that directory. */
  async function dirNodes(snap: SnapshotRecord, path: string): Promise<TreeNode[]> {
    let nodes = await loadTree(
      client,
      vault,
      keys,
      snap.tree.map((h) => Buffer.from(h, 'hex')),
    );
    for (const part of path.split('/').filter(Boolean)) {
      const dir = nodes.find((n) => n.name.equals(Buffer.from(part)));
      assert.ok(dir?.type === 'dir' && dir.subtree, `no directory ${part} on the way to ${path}`);
      nodes = await loadTree(client, vault, keys, dir.subtree);
    }
    return nodes;
  }

  /** The file's bytes: its chunks in the tree's order (the server answers in pack order, which may differ). */
  async function contentOf(node: TreeNode): Promise<Buffer> {
    const plain = new Map<string, Buffer>();
    for await (const { id, sealed } of client.getBlobs(vault, node.chunks ?? []))
      plain.set(id.toString('hex'), openBlob(keys, BLOB_DATA, id, sealed));
    return Buffer.concat((node.chunks ?? []).map((id) => plain.get(id.toString('hex'))!));
  }

  let first: SnapshotRecord;

  it('stores a tree whose nodes and chunks give back the metadata and bytes', async () => {
    const { snapshot, warnings } = await run();
    first = snapshot;
    assert.deepEqual(warnings, []);
    assert.ok(snapshot.summary.filesChanged > 10);
    assert.equal(snapshot.summary.bytesRead, snapshot.summary.bytes);
    assert.ok(snapshot.summary.bytesNew > 0);

    const listed = await listSnapshots(client, vault, keys);
    assert.deepEqual(
      listed.map((s) => s.id),
      [snapshot.id],
    );
    assert.deepEqual(await loadSnapshot(client, vault, keys, snapshot.id), snapshot);

    // The root stands for '/': the components down to src hold only the way there.
    const rootNodes = await dirNodes(snapshot, '/');
    assert.equal(rootNodes.length, 1);
    assert.equal(rootNodes[0]!.name.toString(), src.split('/')[1]);

    const top = await dirNodes(snapshot, src);
    const small = top.find((n) => n.name.toString() === 'small.txt')!;
    const st = lstatSync(join(src, 'small.txt'), { bigint: true });
    assert.equal(small.type, 'file');
    assert.equal(small.mtimeNs, st.mtimeNs);
    assert.equal(small.inode, st.ino);
    assert.equal(small.mode, 0o644);
    assert.equal((await contentOf(small)).toString(), 'hello, cairn\n');
    const big = top.find((n) => n.name.toString() === 'random-5m.bin')!;
    assert.ok(big.chunks!.length >= 2);
    assert.ok((await contentOf(big)).equals(readFileSync(join(src, 'random-5m.bin'))));

    const names = await dirNodes(snapshot, `${src}/names`);
    assert.ok(names.some((n) => n.name.toString() === 'new\nline'));
    assert.ok(
      names.some((n) =>
        n.name.equals(Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x2d, 0xe9, 0xff, 0xfe])),
      ),
    );
    assert.ok(names.some((n) => n.name.length === 255));

    const links = await dirNodes(snapshot, `${src}/links`);
    const odd = links.find((n) => n.name.toString() === 'odd-target')!;
    assert.equal(odd.type, 'symlink');
    assert.ok(odd.target!.equals(Buffer.from([0x74, 0xff, 0x0a])));
    // hard links: the first in scan order (hardlinks/a) is the file, the others point at it
    const hardlinked = links.find((n) => n.name.toString() === 'c-hardlink')!;
    const hl = await dirNodes(snapshot, `${src}/hardlinks`);
    assert.equal(hl.find((n) => n.name.toString() === 'a')!.type, 'file');
    for (const n of [hardlinked, hl.find((x) => x.name.toString() === 'b')!]) {
      assert.equal(n.type, 'hardlink');
      assert.equal(n.target!.toString(), `${src.slice(1)}/hardlinks/a`);
    }

    const special = await dirNodes(snapshot, `${src}/special`);
    assert.equal(special.find((n) => n.name.toString() === 'fifo')!.type, 'fifo');
    const modes = await dirNodes(snapshot, `${src}/modes`);
    assert.equal(modes.find((n) => n.name.toString() === 'setuid')!.mode, 0o4755);
    assert.equal(modes.find((n) => n.name.toString() === 'sticky-dir')!.mode, 0o1777);

    let deep = `${src}/deep`;
    for (let i = 0; i < 60; i++) deep += `/d${String(i).padStart(2, '0')}`;
    const bottom = await dirNodes(snapshot, deep);
    assert.equal((await contentOf(bottom[0]!)).toString(), 'sixty levels down\n');
  });

  it('a backup with nothing changed reads nothing and uploads no data', async () => {
    const packs = new Set(packFiles(server.dataDir));
    const { snapshot, warnings } = await run(first);
    assert.deepEqual(warnings, []);
    assert.equal(snapshot.summary.filesChanged, 0);
    assert.equal(snapshot.summary.bytesRead, 0);
    assert.equal(snapshot.summary.files, first.summary.files);
    assert.equal(snapshot.summary.bytes, first.summary.bytes);
    assert.equal(snapshot.parent, first.id);
    // The directories above src (the temp dir) may change under other tests: only their trees may
    // be new. src's own tree is the same, and no data chunk is uploaded.
    const srcNode = async (s: SnapshotRecord) =>
      (await dirNodes(s, src.slice(0, src.lastIndexOf('/')))).find((n) => n.name.toString() === 'src')!;
    assert.deepEqual((await srcNode(snapshot)).subtree, (await srcNode(first)).subtree);
    assert.ok(snapshot.summary.bytesNew < 4096, `${snapshot.summary.bytesNew} new bytes`);
    for (const pack of packFiles(server.dataDir).filter((p) => !packs.has(p)))
      assert.ok(
        parsePack(readFileSync(pack)).every((e) => e.type === BLOB_TREE),
        'a new pack holds trees only',
      );
  });

  it('a changed file is the only one read', async () => {
    appendFileSync(join(src, 'names', 'tab\there'), 'one more line\n');
    const { snapshot } = await run(first);
    assert.equal(snapshot.summary.filesChanged, 1);
    assert.equal(snapshot.summary.bytesRead, 'tab in the name\none more line\n'.length);
    assert.ok(snapshot.summary.bytesNew > 0 && snapshot.summary.bytesNew < 64 * 1024);
    assert.notDeepEqual(snapshot.tree, first.tree);
  });

  it('a 100-byte insert in the middle of a 20 MB file re-stores about two chunks', async () => {
    const dir = join(work, 'big');
    const path = join(dir, 'f.bin');
    const content = pseudoRandom(20 * 1024 * 1024, 42);
    mkdirSync(dir);
    writeFileSync(path, content);
    const before = await run(undefined, [dir]);
    const mid = content.length / 2;
    writeFileSync(
      path,
      Buffer.concat([content.subarray(0, mid), pseudoRandom(100, 7), content.subarray(mid)]),
    );
    const afterInsert = await run(before.snapshot, [dir]);
    assert.equal(afterInsert.snapshot.summary.filesChanged, 1);
    const [oldNode] = await dirNodes(before.snapshot, dir);
    const [newNode] = await dirNodes(afterInsert.snapshot, dir);
    const known = new Set(oldNode!.chunks!.map((c) => c.toString('hex')));
    const fresh = newNode!.chunks!.filter((c) => !known.has(c.toString('hex')));
    assert.ok(fresh.length >= 1 && fresh.length <= 2, `${fresh.length} new chunks`);
    assert.ok(afterInsert.snapshot.summary.bytesNew <= 2 * chunker.max + 64 * 1024);
    assert.ok(afterInsert.snapshot.summary.bytesNew < before.snapshot.summary.bytesNew / 3);
  });

  it('paths that vanish are warnings, not failures', async () => {
    const { snapshot, warnings } = await run(first, [src, join(work, 'does-not-exist')]);
    assert.deepEqual(
      warnings.map((w) => w.reason),
      ['does not exist'],
    );
    assert.ok(snapshot.summary.files > 10);
  });
});

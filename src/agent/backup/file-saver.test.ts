// FileSaver with real worker threads; the storage side is an in-memory stand-in (everything
// missing, packs collected), since what is checked here is reading, not storing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chunkLengths, gearTable } from '../../core/chunker.ts';
import { chunkId, generateVaultKeys } from '../../core/keys.ts';
import type { TreeNode } from '../../core/tree.ts';
import { nodeFromStat, type ScanWarning } from '../scan.ts';
import { WorkerPool } from '../worker-pool.ts';
import { ArenaPool } from './arena-pool.ts';
import { SealRing } from './seal-ring.ts';
import { BlobSealer } from './blob-sealer.ts';
import type { WorkerResult, WorkerTask } from './chunk-messages.ts';
import { SnapshotRefs } from './snapshot-refs.ts';
import { DedupBatcher } from './dedup-batcher.ts';
import { FileSaver } from './file-saver.ts';
import { PackUploader } from './pack-uploader.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-saver-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const keys = generateVaultKeys();
const chunker = { min: 4096, avg: 16384, max: 65536 };

async function withSaver(
  fn: (saver: FileSaver, warnings: ScanWarning[]) => Promise<void>,
): Promise<number[]> {
  const arenas = new ArenaPool(200_000 + chunker.max, 3);
  const ring = new SealRing();
  const pool = new WorkerPool<WorkerTask, WorkerResult>(new URL('./file-chunker-worker.ts', import.meta.url), {
    size: 2,
    workerData: { keys, chunker, arenas: arenas.buffers, sealRing: ring.shared },
  });
  const warnings: ScanWarning[] = [];
  const packs: number[] = [];
  const uploader = new PackUploader(async (_buffers, size) => {
    packs.push(size);
  });
  const sealer = new BlobSealer({
    keys,
    pool,
    dedup: new DedupBatcher(async (ids) => ids),
    uploader,
    referenced: new SnapshotRefs(),
    arenas,
    ring,
  });
  const saver = new FileSaver({
    pool,
    sealer,
    arenas,
    chunker,
    warnings,
    stats: { bytesRead: 0, filesChanged: 0 },
  });
  try {
    await fn(saver, warnings);
    await saver.drain();
    await sealer.drain();
    await uploader.flush();
  } finally {
    await pool.close();
  }
  return packs;
}

function save(saver: FileSaver, path: string, stat = lstatSync(path, { bigint: true })) {
  return new Promise<TreeNode | undefined>((resolve) => {
    void saver.save(Buffer.from(path), stat, nodeFromStat(Buffer.from('x'), stat), resolve);
  });
}

test('small and big files get the chunk ids of their whole content', async () => {
  const small = randomBytes(30_000);
  const big = randomBytes(900_000); // several segments of 200 kB
  writeFileSync(join(dir, 'small'), small);
  writeFileSync(join(dir, 'big'), big);
  writeFileSync(join(dir, 'empty'), '');
  const packs = await withSaver(async (saver, warnings) => {
    const nodes = [
      save(saver, join(dir, 'small')),
      save(saver, join(dir, 'big')),
      save(saver, join(dir, 'empty')),
    ];
    await saver.flush();
    const [s, b, e] = await Promise.all(nodes);
    const gear = gearTable(keys.chunkerKey);
    for (const [node, content] of [
      [s, small],
      [b, big],
    ] as const) {
      let at = 0;
      const expected = chunkLengths(chunker, gear, content).map((len) =>
        chunkId(keys, content.subarray(at, (at += len))),
      );
      assert.deepEqual(node!.chunks, expected);
      assert.equal(node!.size, content.length);
    }
    assert.deepEqual(e!.chunks, []);
    assert.deepEqual(warnings, []);
  });
  assert.ok(
    packs.reduce((a, b) => a + b, 0) > small.length + big.length,
    'random chunks are stored, uncompressed',
  );
});

test('a file that changed while it was read keeps the metadata seen before, with a warning', async () => {
  const path = join(dir, 'moving');
  writeFileSync(path, 'before');
  const seen = lstatSync(path, { bigint: true });
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(path, 'after the change'); // between the scan's lstat and the worker's read
  await withSaver(async (saver, warnings) => {
    const pending = save(saver, path, seen);
    await saver.flush();
    const node = (await pending)!;
    assert.deepEqual(warnings, [{ path, reason: 'changed while it was read' }]);
    assert.equal(node.mtimeNs, seen.mtimeNs, 'the times seen before the read are kept');
    assert.equal(node.size, 'after the change'.length, 'the size is that of the bytes stored');
  });
});

test('a file that vanished before it was read is a warning and no node', async () => {
  const path = join(dir, 'gone');
  writeFileSync(path, 'soon gone');
  const seen = lstatSync(path, { bigint: true });
  rmSync(path);
  await withSaver(async (saver, warnings) => {
    const pending = save(saver, path, seen);
    await saver.flush();
    assert.equal(await pending, undefined);
    assert.deepEqual(warnings, [{ path, reason: 'not saved: vanished during the backup' }]);
  });
});

test('a worker that dies fails the run instead of leaving it waiting', async () => {
  const arenas = new ArenaPool(100_000, 1);
  // no arenas in workerData: the worker throws while starting
  const pool = new WorkerPool<WorkerTask, WorkerResult>(new URL('./file-chunker-worker.ts', import.meta.url), {
    size: 1,
    workerData: { keys, chunker },
  });
  const uploader = new PackUploader(async () => {});
  const dedup = new DedupBatcher(async (ids) => ids);
  const sealer = new BlobSealer({ keys, pool, dedup, uploader, referenced: new SnapshotRefs(), arenas, ring: new SealRing() });
  const saver = new FileSaver({ pool, sealer, arenas, chunker, warnings: [], stats: { bytesRead: 0, filesChanged: 0 } });
  const path = join(dir, 'some');
  writeFileSync(path, 'x');
  const stat = lstatSync(path, { bigint: true });
  try {
    const node = nodeFromStat(Buffer.from('some'), stat);
    await saver.save(Buffer.from(path), stat, node, () => {});
    await saver.flush();
    // the only arena went down with the worker: the next file must not wait for it forever
    await assert.rejects(saver.drain(), /worker thread failed/);
    await assert.rejects(
      (async () => {
        await saver.save(Buffer.from(path), stat, node, () => {});
        await saver.flush();
      })(),
      /worker thread failed/,
    );
  } finally {
    await pool.close();
  }
});

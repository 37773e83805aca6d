// The seal ring with real chunker workers: blobs sealed into the ring and, when it is full, into
// the workers' own buffers, come out as packs whose every blob opens to its chunk; every region
// is unpinned once its packs are uploaded.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BLOB_DATA, openBlob } from '../../core/blob.ts';
import { generateVaultKeys } from '../../core/keys.ts';
import { parsePack } from '../../core/pack-verifier.ts';
import type { TreeNode } from '../../core/tree.ts';
import { nodeFromStat } from '../scan.ts';
import { WorkerPool } from '../worker-pool.ts';
import { ArenaPool } from './arena-pool.ts';
import { BlobSealer } from './blob-sealer.ts';
import type { WorkerResult, WorkerTask } from './chunk-messages.ts';
import { DedupBatcher } from './dedup-batcher.ts';
import { FileSaver } from './file-saver.ts';
import { PackUploader } from './pack-uploader.ts';
import { SealedOutput, SealRing } from './seal-ring.ts';
import { SnapshotRefs } from './snapshot-refs.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-seal-ring-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keys = generateVaultKeys();
const chunker = { min: 4096, avg: 16384, max: 65536 };

test('blobs sealed into the ring, and beside it when it is full, open to their chunks; the ring ends empty', async () => {
  const files = [randomBytes(700_000), Buffer.from('compressible text line\n'.repeat(40_000)), randomBytes(300_000), randomBytes(5_000)];
  files.forEach((content, i) => writeFileSync(join(dir, `f${i}`), content));

  const arenas = new ArenaPool(200_000 + chunker.max, 3);
  // room for one seal task's worst case at a time: others seal into buffers of their own
  const ring = new SealRing(300_000);
  const pool = new WorkerPool<WorkerTask, WorkerResult>(new URL('./file-chunker-worker.ts', import.meta.url), {
    size: 2,
    workerData: { keys, chunker, arenas: arenas.buffers, sealRing: ring.shared },
  });
  const plains = new Map<string, Buffer>();
  let inRing = 0;
  let beside = 0;
  const uploader = new PackUploader(
    async (buffers, size) => {
      for (const b of buffers) {
        if (b.buffer instanceof SharedArrayBuffer) inRing++;
        else if (b.length > 10_000) beside++;
      }
      const bytes = Buffer.concat(buffers); // a copy: the ring's bytes are reused once this pack is stored
      assert.equal(bytes.length, size);
      await new Promise((r) => setTimeout(r, 5)); // an upload takes a while: the ring fills meanwhile
      for (const e of parsePack(bytes)) {
        const sealed = bytes.subarray(e.offset, e.offset + e.length);
        plains.set(e.id.toString('hex'), openBlob(keys, BLOB_DATA, e.id, sealed));
      }
    },
    { targetSize: 150_000 },
  );
  const sealer = new BlobSealer({ keys, pool, dedup: new DedupBatcher(async (ids) => ids), uploader, referenced: new SnapshotRefs(), arenas, ring });
  const saver = new FileSaver({ pool, sealer, arenas, chunker, warnings: [], stats: { bytesRead: 0, filesChanged: 0 } });
  let nodes: (TreeNode | undefined)[] = [];
  try {
    const pending = files.map(
      (_, i) =>
        new Promise<TreeNode | undefined>((resolve) => {
          const path = join(dir, `f${i}`);
          const stat = lstatSync(path, { bigint: true });
          void saver.save(Buffer.from(path), stat, nodeFromStat(Buffer.from('x'), stat), resolve);
        }),
    );
    await saver.flush();
    nodes = await Promise.all(pending);
    await saver.drain();
    await sealer.drain();
    await uploader.flush();
  } finally {
    await pool.close();
  }
  files.forEach((content, i) => {
    const joined = Buffer.concat(nodes[i]!.chunks!.map((id) => plains.get(id.toString('hex'))!));
    assert.ok(joined.equals(content), `file ${i} restores from the packs`);
  });
  assert.ok(inRing > 0, 'some entries were sealed into the ring');
  assert.ok(beside > 0, 'some were sealed beside it, the ring being full');
  assert.equal(ring.outBytes, 0, 'every region was unpinned once its packs were stored');
});

test('a sealed output is freed when the last of its holders lets go', () => {
  const ring = new SealRing(4096);
  const region = ring.take(1000)!;
  assert.equal(ring.outBytes, 1000);
  ring.shrink(region.start, 600);
  assert.equal(ring.outBytes, 600, 'the unused rest went back');
  region.output.retain(); // a pack holds one of its entries
  region.output.release(); // its sealer is done with it
  assert.equal(ring.outBytes, 600, 'still pinned by the pack');
  region.output.release();
  assert.equal(ring.outBytes, 0);

  const own = Buffer.allocUnsafeSlow(8192);
  const output = SealedOutput.owned(own);
  output.retain();
  output.release();
  assert.equal(own.buffer.byteLength, 8192, 'not freed while a pack holds it');
  output.release();
  assert.equal(own.buffer.byteLength, 0, 'freed with its last holder');
});

// Holes inside chunks, end to end through the CLI as real processes: a 1 GiB sparse file with
// 4 KiB of data in its middle comes back with its holes; zero runs at unaligned offsets come back
// byte for byte; a restore over existing files whose data the snapshot has as zeros writes zeros.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, runCairn } from './support/cli.ts';
import { directConnection, initAndBackup } from './support/direct-vault.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const PASSPHRASE = 'holes test passphrase';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function cairn(args: string[]): Promise<CliResult> {
  return runCairn(args, { CAIRN_PASSPHRASE: PASSPHRASE });
}

describe('restore leaves zero blocks inside chunks as holes', () => {
  let server: StorageProcess;
  let work: string;
  let src: string;
  let connection: string[];
  let snapshot: string;
  const middle = randomBytes(4096);
  let runs: Buffer;

  before(async () => {
    server = await startStorage();
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-holes-'));
    src = join(work, 'src');
    fs.mkdirSync(src);
    // the sparse case: truncate, then one 4 KiB write at 512 MiB
    const big = join(src, 'big');
    fs.truncateSync((fs.writeFileSync(big, ''), big), GiB);
    const fd = fs.openSync(big, 'r+');
    fs.writeSync(fd, middle, 0, middle.length, 512 * MiB);
    fs.closeSync(fd);
    // random data with zero runs at odd offsets and lengths, all inside chunks
    runs = randomBytes(6 * MiB);
    for (const [at, n] of [[1001, 9000], [300_003, 4095], [777_777, 2 * MiB + 17], [5 * MiB + 5, 40_000]] as const)
      runs.fill(0, at, at + n);
    fs.writeFileSync(join(src, 'runs'), runs);
    connection = directConnection(server, 'v');
    snapshot = await initAndBackup(cairn, connection, src);
  });

  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const restoreTo = async (dst: string) => {
    const run = await cairn(['direct', 'restore', ...connection, snapshot, '--to', dst, '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).damaged, []);
  };

  /** The file equals the source: compared in 64 MiB pieces, not read whole. */
  function assertSame(a: string, b: string): void {
    assert.equal(fs.statSync(b).size, fs.statSync(a).size);
    const fa = fs.openSync(a, 'r');
    const fb = fs.openSync(b, 'r');
    const ba = Buffer.alloc(64 * MiB);
    const bb = Buffer.alloc(64 * MiB);
    try {
      for (let at = 0; ; at += ba.length) {
        const n = fs.readSync(fa, ba, 0, ba.length, at);
        assert.equal(fs.readSync(fb, bb, 0, bb.length, at), n);
        if (n === 0) break;
        assert.ok(ba.subarray(0, n).equals(bb.subarray(0, n)), `${b} differs in the 64 MiB from ${at}`);
      }
    } finally {
      fs.closeSync(fa);
      fs.closeSync(fb);
    }
  }

  it('a 1 GiB file with 4 KiB of data restores with at most 64 KiB allocated; zero runs at odd offsets identical', async () => {
    const dst = join(work, 'dst');
    await restoreTo(dst);
    const big = join(dst, src, 'big');
    const allocated = fs.statSync(big).blocks * 512;
    assert.ok(allocated <= 64 * 1024, `${allocated} bytes allocated`);
    assertSame(join(src, 'big'), big);
    assertSame(join(src, 'runs'), join(dst, src, 'runs'));
    assert.ok(fs.statSync(join(dst, src, 'runs')).blocks * 512 < runs.length - 2 * MiB, 'the 2 MiB zero run is a hole');
  });

  it('a restore over files holding data where the snapshot has zeros restores zeros', async () => {
    const dst = join(work, 'over');
    const restored = join(dst, src);
    fs.mkdirSync(restored, { recursive: true });
    fs.writeFileSync(join(restored, 'runs'), Buffer.alloc(runs.length + 100, 0xee));
    const fd = fs.openSync(join(restored, 'big'), 'w');
    for (let at = 0; at < 8 * MiB; at += MiB) fs.writeSync(fd, Buffer.alloc(MiB, 0xab), 0, MiB, 512 * MiB - 4 * MiB + at);
    fs.closeSync(fd);
    await restoreTo(dst);
    assertSame(join(src, 'runs'), join(restored, 'runs'));
    assertSame(join(src, 'big'), join(restored, 'big'));
    assert.ok(fs.statSync(join(restored, 'big')).blocks * 512 <= 64 * 1024);
  });
});

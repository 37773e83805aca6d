import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DirectFileSink } from './direct-file-sink.ts';

const MiB = 1024 * 1024;

/** Whether the file system under `dir` takes O_DIRECT at all (the kernel answers at open). */
function takesDirect(dir: string): boolean {
  const probe = join(dir, 'probe');
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { force: true });
  }
}

/** Pieces of awkward sizes: a byte, TLS-record sized, longer than two stages, a block and one. */
const SIZES = [1, 16 * 1024, 3 * MiB + 7, 4096, 4097, 100, 2 * MiB, 12345];

/** Writes random pieces of SIZES, each write waited for, and finishes: the bytes the file must hold. */
async function writeAll(sink: DirectFileSink): Promise<Buffer> {
  const pieces = SIZES.map((n) => randomBytes(n));
  for (const piece of pieces) await sink.write(piece);
  await sink.finish();
  return Buffer.concat(pieces);
}

describe('direct file sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-direct-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const direct = takesDirect(dir);

  it('writes every byte in order and the file ends at its size, past the page cache where it can', async () => {
    const sink = new DirectFileSink(join(dir, 'waited'));
    const expected = await writeAll(sink);
    assert.equal(sink.direct, direct);
    assert.equal(statSync(sink.path).size, expected.length); // the padded last block cut off
    assert.ok(readFileSync(sink.path).equals(expected));
  });

  it('keeps the bytes right when the caller does not wait for room', async () => {
    const pieces = [...SIZES, ...SIZES].map((n) => randomBytes(n));
    const sink = new DirectFileSink(join(dir, 'unwaited'));
    for (const piece of pieces) void sink.write(piece);
    await sink.finish();
    assert.ok(readFileSync(sink.path).equals(Buffer.concat(pieces)));
  });

  it('frees a chunk it is given once copied and leaves one it is lent', async () => {
    const owned = Buffer.from(new ArrayBuffer(50_000)).fill(1);
    const lent = Buffer.from(new ArrayBuffer(50_000)).fill(2);
    const sink = new DirectFileSink(join(dir, 'owned'));
    await sink.write(owned, true);
    await sink.write(lent);
    await sink.finish();
    assert.equal(owned.length, 0);
    assert.equal(lent.length, 50_000);
    const written = readFileSync(sink.path);
    assert.equal(written.length, 100_000);
    assert.ok(written.subarray(0, 50_000).every((b) => b === 1) && written.subarray(50_000).every((b) => b === 2));
  });

  it('goes on through the page cache when the kernel refuses a direct write', async (t) => {
    if (!direct) return t.diagnostic('this file system refuses O_DIRECT at open: every sink here writes through the cache');
    // staging buffers one byte off a page boundary: the kernel answers EINVAL to each direct write
    const sink = new DirectFileSink(join(dir, 'refused'), { stage: () => Buffer.alloc(MiB + 1).subarray(1) });
    const expected = await writeAll(sink);
    assert.equal(sink.direct, false);
    assert.ok(readFileSync(sink.path).equals(expected));
  });

  it('goes through the page cache when no aligned staging buffer can be had', async () => {
    const sink = new DirectFileSink(join(dir, 'unaligned'), {
      stage: () => {
        throw new RangeError('WebAssembly.Memory(): could not allocate memory');
      },
    });
    const expected = await writeAll(sink);
    assert.equal(sink.direct, false);
    assert.ok(readFileSync(sink.path).equals(expected));
  });

  it('abort removes the file, also with writes on their way', async () => {
    const sink = new DirectFileSink(join(dir, 'aborted'));
    void sink.write(randomBytes(3 * MiB));
    await sink.abort();
    assert.equal(existsSync(sink.path), false);
  });

  it('a file that cannot be made fails the upload and leaves nothing', async () => {
    const sink = new DirectFileSink(join(dir, 'no-such-dir', 'file'));
    await assert.rejects(
      (async () => {
        await sink.write(randomBytes(2 * MiB));
        await sink.write(randomBytes(10));
        await sink.finish();
      })(),
      { code: 'ENOENT' },
    );
    await sink.abort();
    assert.equal(existsSync(join(dir, 'no-such-dir')), false);
  });

  it('a failed write nobody waited for is reported by finish(), not left unhandled', async () => {
    const sink = new DirectFileSink(join(dir, 'no-such-dir', 'unwaited'));
    void sink.write(randomBytes(2 * MiB));
    await assert.rejects(sink.finish(), { code: 'ENOENT' });
  });
});

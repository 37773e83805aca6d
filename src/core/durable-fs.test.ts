import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TempFileSink } from './durable-fs.ts';

describe('temp file sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sink-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('frees a chunk it is given once written, keeps one it is lent, and writes both', async () => {
    const owned = Buffer.from(new ArrayBuffer(50_000)).fill(1);
    const lent = Buffer.from(new ArrayBuffer(50_000)).fill(2);
    const sink = new TempFileSink(join(dir, 'file'));
    await sink.write(owned, true);
    await sink.write(lent);
    await sink.finish();
    assert.equal(owned.length, 0); // freed once its write was done
    assert.equal(lent.length, 50_000);
    const written = readFileSync(join(dir, 'file'));
    assert.equal(written.length, 100_000);
    assert.ok(written.subarray(0, 50_000).every((b) => b === 1));
    assert.ok(written.subarray(50_000).every((b) => b === 2));
  });
});

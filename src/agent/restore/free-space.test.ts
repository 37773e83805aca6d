import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nearestExisting, SpaceNeeds, spaceProblems } from './free-space.ts';

describe('free space', () => {
  it('counts files in whole blocks per filesystem and names its mount point', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-space-'));
    try {
      const { at, dev } = nearestExisting(path.join(dir, 'not', 'yet'));
      assert.equal(at, dir);
      const block = fs.statfsSync(dir).bsize;
      const needs = new SpaceNeeds();
      needs.add(dev, Buffer.from(at), 1);
      needs.add(dev, Buffer.from(at), block + 1);
      needs.add(dev, Buffer.from(at), 0);
      const [only, ...others] = needs.report();
      assert.deepEqual(others, []);
      assert.equal(only!.neededBytes, 3 * block);
      assert.ok(only!.freeBytes > 0);
      assert.ok(dir === only!.mount || dir.startsWith(`${only!.mount === '/' ? '' : only!.mount}/`), only!.mount);
      assert.equal(fs.statSync(only!.mount).dev, dev);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('is a problem only where the need exceeds what is free', () => {
    assert.deepEqual(
      spaceProblems([
        { mount: '/a', neededBytes: 10, freeBytes: 10 },
        { mount: '/b', neededBytes: 11, freeBytes: 10 },
      ]),
      ['not enough free space on /b: need 11 bytes, 10 free'],
    );
  });
});

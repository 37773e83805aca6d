import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { duBytes } from './measure.ts';
import { growthByPart, partOf, storedSizes } from './stored-parts.ts';

test('partOf collapses content-addressed names and keeps what tells the parts apart', () => {
  assert.equal(partOf(path.join('vaults', 'v1', 'packs', '3a', '3acf2a3b')), 'vaults/v1/packs/*/*');
  assert.equal(partOf(path.join('vaults', 'v1', 'snapshots', 'd919.refs')), 'vaults/v1/snapshots/*.refs');
  assert.equal(partOf(path.join('vaults', 'v1', 'index.sqlite-wal')), 'vaults/v1/index.sqlite-wal');
  assert.equal(partOf(path.join('data', 'beef')), 'data/*'); // a name of hex letters only is a hash too
});

test('growthByPart sums each part of what grew, as du -sb counts it (hard links once)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-stored-parts-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'snapshots'));
  fs.writeFileSync(path.join(dir, 'index'), Buffer.alloc(100));
  const before = storedSizes(dir);
  fs.mkdirSync(path.join(dir, 'packs', '0a'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'packs', '0a', '0a11'), Buffer.alloc(1000));
  fs.writeFileSync(path.join(dir, 'packs', '0a', '0a22'), Buffer.alloc(500));
  fs.linkSync(path.join(dir, 'packs', '0a', '0a22'), path.join(dir, 'packs', '0a', '0a33'));
  fs.writeFileSync(path.join(dir, 'snapshots', 'ff.refs'), Buffer.alloc(64));
  fs.writeFileSync(path.join(dir, 'index'), Buffer.alloc(40));
  const after = storedSizes(dir);
  const parts = growthByPart(before, after);
  assert.equal(parts['packs/*/*'], 1500);
  assert.equal(parts['snapshots/*.refs'], 64);
  assert.equal(parts['index'], -60);
  assert.ok(parts['packs'] !== undefined && parts['packs/*'] !== undefined, 'new directories count, as du counts them');
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  assert.equal(sum(after), await duBytes(dir), 'the sizes add up to what du -sb says');
  assert.equal(Object.values(parts).reduce((a, b) => a + b, 0), sum(after) - sum(before));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScanWarning } from '../scan.ts';
import { HardLinks } from './hard-links.ts';

const stat = (ino: number, nlink: number) => ({ dev: 2049n, ino: BigInt(ino), nlink: BigInt(nlink) });
const p = (s: string) => Buffer.from(s);

test('an inode is forgotten once all its names were walked', () => {
  const links = new HardLinks([], 10);
  assert.equal(links.see(stat(7, 3), p('/a/x')), undefined);
  assert.deepEqual(links.see(stat(7, 3), p('/b/x')), p('a/x'));
  assert.equal(links.pending, 1);
  assert.deepEqual(links.see(stat(7, 3), p('/c/x')), p('a/x'));
  assert.equal(links.pending, 0);
  // a pair: gone after its second name; another inode stays until its names come
  links.see(stat(8, 2), p('/d'));
  links.see(stat(9, 2), p('/e'));
  assert.deepEqual(links.see(stat(8, 2), p('/f')), p('d'));
  assert.equal(links.pending, 1);
});

test('past the cap a multiply-linked file is stored as a file, with one warning', () => {
  const warnings: ScanWarning[] = [];
  const links = new HardLinks(warnings, 2);
  links.see(stat(1, 2), p('/one'));
  links.see(stat(2, 2), p('/two'));
  assert.equal(links.see(stat(3, 2), p('/three')), undefined);
  assert.equal(links.see(stat(3, 2), p('/three-again')), undefined, 'not recorded: stored again as a file');
  assert.equal(links.see(stat(4, 2), p('/four')), undefined);
  assert.equal(links.pending, 2);
  assert.deepEqual(warnings, [
    { path: '/three', reason: 'more than 2 hard-linked files wait for their other names: this one and further ones are stored as separate files (same content, stored once)' },
  ]);
  // the ones recorded still link, and make room when complete
  assert.deepEqual(links.see(stat(1, 2), p('/one-b')), p('one'));
  assert.equal(links.see(stat(5, 2), p('/five')), undefined);
  assert.deepEqual(links.see(stat(5, 2), p('/five-b')), p('five'));
});

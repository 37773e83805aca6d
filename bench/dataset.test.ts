// The benchmark dataset is only a fair yardstick if it is reproducible: same arguments, same
// tree; and the ~1% change must do what the after-modify phase claims.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generateDataset } from './gen-dataset.ts';
import { modifyDataset } from './modify-dataset.ts';

/** Every entry's path, type, mode, size, mtime, link target and content hash, in byte order. */
function fingerprint(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      const rel = path.relative(root, abs);
      let what = '';
      if (st.isSymbolicLink()) what = `-> ${fs.readlinkSync(abs)}`;
      else if (st.isFile()) what = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      out.push(`${rel} ${st.mode.toString(8)} ${st.isDirectory() ? 0 : st.size} ${st.mtimeMs} ${what}`);
      if (st.isDirectory()) walk(abs);
    }
  };
  walk(root);
  return out;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the same size and seed give an identical tree; another seed does not', (t) => {
  const dir = tempDir(t);
  const a = generateDataset(path.join(dir, 'a'), 4, 's');
  generateDataset(path.join(dir, 'b'), 4, 's');
  generateDataset(path.join(dir, 'c'), 4, 'other');
  assert.deepEqual(fingerprint(path.join(dir, 'a')), fingerprint(path.join(dir, 'b')));
  assert.notDeepEqual(fingerprint(path.join(dir, 'a')), fingerprint(path.join(dir, 'c')));
  assert.ok(a.files > 1900 && a.symlinks === 40 && a.hardlinks === 3 && a.empty > 0);
  assert.ok(Math.abs(a.bytes - 4 * 2 ** 20) < 0.15 * 4 * 2 ** 20, `bytes ${a.bytes}`);
});

test('modify inserts 100 bytes mid-file in the 3 largest, appends to the next 3, changes ~1%', (t) => {
  const dir = tempDir(t);
  const root = path.join(dir, 'd');
  const summary = generateDataset(root, 4, 's');
  const biggest = summary.large.toSorted((x, y) => y.bytes - x.bytes)[0]!;
  const before = fs.readFileSync(path.join(root, biggest.path));
  const result = modifyDataset(root, 'm');
  const after = fs.readFileSync(path.join(root, biggest.path));
  assert.equal(result.inserted[0], biggest.path);
  const mid = Math.floor(before.length / 2);
  assert.equal(after.length, before.length + 100);
  assert.ok(after.subarray(0, mid).equals(before.subarray(0, mid)));
  assert.ok(after.subarray(mid + 100).equals(before.subarray(mid)));
  assert.equal(result.appended.length, 3);
  assert.equal(result.changedFiles, Math.round(result.regularFiles * 0.01));
});

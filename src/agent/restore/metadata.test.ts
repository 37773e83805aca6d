import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TreeNode } from '../../core/tree.ts';
import { isCairnError } from '../../core/errors.ts';
import { applyFdMetadata, applyInodeMetadata, applyNodeMetadata, applySymlinkMetadata, secondsOf } from './metadata.ts';

function node(type: TreeNode['type'], mode: number, mtimeNs: bigint): TreeNode {
  return { name: Buffer.from('x'), type, mode, uid: 0, gid: 0, mtimeNs, ctimeNs: 0n, size: 0, inode: 1n, nlink: 1 };
}

test('seconds as a double keep the time to well under a microsecond', () => {
  assert.equal(secondsOf(1_500_000_000_250_000_000n), 1_500_000_000.25);
  assert.equal(secondsOf(-1_500_000_000n), -1.5);
  const ns = 1_763_000_000_123_456_789n;
  const back = BigInt(Math.round(secondsOf(ns) * 1e6)) * 1000n;
  assert.ok(back - ns < 1000n && ns - back < 1000n);
});

test('mtimes land within 250 ns; mode includes setuid and sticky', () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-meta-'));
  try {
    const file = join(dir, 'f');
    fs.writeFileSync(file, 'x');
    const asRoot = process.getuid?.() === 0;
    for (const t of [1_763_000_000_123_456_789n, 1_000_000_000_000_000_001n, 86_400_999_999_999n]) {
      const fd = fs.openSync(file, 'r+');
      applyFdMetadata(fd, node('file', 0o4755, t), false);
      fs.closeSync(fd);
      const st = fs.lstatSync(file, { bigint: true });
      const drift = st.mtimeNs > t ? st.mtimeNs - t : t - st.mtimeNs;
      assert.ok(drift <= 250n, `${t}: off by ${drift} ns`);
      assert.equal(Number(st.mode & 0o7777n), 0o4755);
    }
    const sub = join(dir, 'd');
    fs.mkdirSync(sub);
    const subFd = fs.openSync(sub, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    applyInodeMetadata(`/proc/self/fd/${subFd}`, node('dir', 0o1777, 1_600_000_000_500_000_000n), asRoot);
    fs.closeSync(subFd);
    const st = fs.lstatSync(sub, { bigint: true });
    assert.equal(Number(st.mode & 0o7777n), 0o1777);
    assert.equal(st.mtimeNs, 1_600_000_000_500_000_000n);
    fs.symlinkSync('nowhere', join(dir, 'l'));
    const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      applySymlinkMetadata(dirFd, Buffer.from('l'), node('symlink', 0o777, 1_200_000_000_000_000_000n), asRoot);
      assert.equal(fs.lstatSync(join(dir, 'l'), { bigint: true }).mtimeNs, 1_200_000_000_000_000_000n);
    } finally {
      fs.closeSync(dirFd);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a special file swapped for a symlink gets no metadata, nor does what the symlink names', () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-meta-'));
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const victim = join(dir, 'victim');
    fs.writeFileSync(victim, 'x', { mode: 0o600 });
    fs.utimesSync(victim, 1000, 1000);
    fs.symlinkSync(victim, join(dir, 'p'));
    assert.throws(
      () => applyNodeMetadata(dirFd, Buffer.from('p'), node('fifo', 0o777, 1_300_000_000_000_000_000n), false),
      (e) => isCairnError(e, 'E_UNSAFE_PATH'),
    );
    const st = fs.statSync(victim);
    assert.equal(st.mode & 0o7777, 0o600);
    assert.equal(st.mtimeMs, 1_000_000);
  } finally {
    fs.closeSync(dirFd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

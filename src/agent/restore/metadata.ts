// Restoring a node's metadata: owner (only when running as root), mode (after the owner, because
// chown clears setuid/setgid), and mtime last (anything else touching the inode may move it).
// Times: Node takes a double of seconds; we build it as whole seconds + ns/1e9 so the value is the
// nearest double to the recorded time (about ±120 ns at today's epoch; libuv keeps nanoseconds).
// The calls are synchronous on purpose: each is a few microseconds, far less than a round trip
// through libuv's thread pool, and a restore of many small files makes millions of them.
import fs from 'node:fs';
import type { TreeNode } from '../../core/tree.ts';

const NS_PER_S = 1_000_000_000n;

/** Seconds as a double, as close to `ns` as a double can be. */
export function secondsOf(ns: bigint): number {
  let sec = ns / NS_PER_S;
  let rem = ns % NS_PER_S;
  if (rem < 0n) {
    sec -= 1n;
    rem += NS_PER_S;
  }
  return Number(sec) + Number(rem) / 1e9;
}

export const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** For a regular file still open for writing: owner, mode, then times, all through the descriptor. */
export function applyFileMetadata(fd: number, node: TreeNode, asRoot: boolean): void {
  if (asRoot) fs.fchownSync(fd, node.uid, node.gid);
  fs.fchmodSync(fd, node.mode & 0o7777);
  const t = secondsOf(node.mtimeNs);
  fs.futimesSync(fd, t, t);
}

/**
 * For directories, FIFOs and device nodes we created (and, without the mode, symlinks): lchown and
 * lutimes never follow a link; chmod does, but the path was just created or lstat'ed by us.
 */
export function applyPathMetadata(path: Buffer, node: TreeNode, asRoot: boolean): void {
  if (asRoot) fs.lchownSync(path, node.uid, node.gid);
  if (node.type !== 'symlink') fs.chmodSync(path, node.mode & 0o7777);
  const t = secondsOf(node.mtimeNs);
  fs.lutimesSync(path, t, t);
}

// Restoring a node's metadata: owner (only when running as root), mode (after the owner, because
// chown clears setuid/setgid), and mtime last (anything else touching the inode may move it).
// Times: Node takes a double of seconds; we build it as whole seconds + ns/1e9 so the value is the
// nearest double to the recorded time (about ±120 ns at today's epoch; libuv keeps nanoseconds).
// The calls are synchronous on purpose: each is a few microseconds, far less than a round trip
// through libuv's thread pool, and a restore of many small files makes millions of them.
import fs from 'node:fs';
import type { TreeNode } from '../../core/tree.ts';
import { inDir, withNodeAt } from './dir-handles.ts';

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

/** A regular file still open for writing: owner, mode, then times, through the descriptor itself. */
export function applyFdMetadata(fd: number, node: TreeNode, asRoot: boolean): void {
  if (asRoot) fs.fchownSync(fd, node.uid, node.gid);
  fs.fchmodSync(fd, node.mode & 0o7777);
  const t = secondsOf(node.mtimeNs);
  fs.futimesSync(fd, t, t);
}

/**
 * An inode named by /proc/self/fd/N (inode() of dir-handles.ts: a directory held open, or a
 * special file's O_PATH descriptor): chown, chmod and utimes follow that link to the inode N
 * holds, never to a path someone could swap.
 */
export function applyInodeMetadata(inodePath: string, node: TreeNode, asRoot: boolean): void {
  if (asRoot) fs.chownSync(inodePath, node.uid, node.gid);
  fs.chmodSync(inodePath, node.mode & 0o7777);
  const t = secondsOf(node.mtimeNs);
  fs.utimesSync(inodePath, t, t);
}

/**
 * A symlink at `name` in the directory `dirFd` holds: owner and times with lchown and lutimes,
 * which never follow it (a symlink's own mode means nothing on Linux).
 */
export function applySymlinkMetadata(dirFd: number, name: Buffer, node: TreeNode, asRoot: boolean): void {
  const at = inDir(dirFd, name);
  if (asRoot) fs.lchownSync(at, node.uid, node.gid);
  const t = secondsOf(node.mtimeNs);
  fs.lutimesSync(at, t, t);
}

/** A FIFO or device node at `name` in `dirFd`: through an O_PATH descriptor of that very inode. */
export function applyNodeMetadata(dirFd: number, name: Buffer, node: TreeNode, asRoot: boolean): void {
  if (node.type !== 'fifo' && node.type !== 'chardev' && node.type !== 'blockdev') throw new Error(`not a special file: ${node.type}`);
  withNodeAt(dirFd, name, node.type, (inodePath) => applyInodeMetadata(inodePath, node, asRoot));
}

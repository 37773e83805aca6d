// FIFOs and device nodes: Node has neither mkfifo nor mknod, so they are made by the coreutils
// commands, many per process spawn (one spawn costs a few milliseconds). The commands only ever
// see ASCII: each parent directory's held-open descriptor (dir-handles.ts) is handed to the child
// as an inherited file descriptor, and the node is made at /dev/fd/N/<temporary name>; the parent
// then sets owner, mode and times through an O_PATH descriptor of the node and renames it (in the
// same held directory, so any name works and no path is followed) into place.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { CairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import { type DirHandle, inDir, type Placed } from './dir-handles.ts';
import { placeSpecial } from './entry-placing.ts';
import { displayPath, tempName } from './path-guard.ts';

const BATCH = 128;

type Pending = {
  at: Placed;
  path: Buffer;
  node: TreeNode;
  tmp: Buffer;
  resolve: () => void;
  reject: (e: unknown) => void;
};

/** Linux dev_t split (glibc's gnu_dev_major / gnu_dev_minor). */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
  const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

export class SpecialFileMaker {
  private batch: Pending[] = [];
  private readonly asRoot: boolean;

  constructor(asRoot: boolean) {
    this.asRoot = asRoot;
  }

  /** Queues a FIFO or device node for `at` (`path` for messages); settles once it is in place with its metadata. */
  add(at: Placed, path: Buffer, node: TreeNode): Promise<void> {
    if ((node.type === 'chardev' || node.type === 'blockdev') && !this.asRoot)
      return Promise.reject(new CairnError('E_FORBIDDEN', 'device nodes can only be restored as root'));
    if (node.type !== 'fifo' && node.type !== 'chardev' && node.type !== 'blockdev')
      return Promise.reject(new CairnError('E_INTERNAL', `not a special file: ${node.type}`));
    return new Promise<void>((resolve, reject) => {
      this.batch.push({ at, path, node, tmp: tempName(), resolve, reject });
      if (this.batch.length >= BATCH) void this.flush();
    });
  }

  /** Makes everything queued so far (one process spawn). */
  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    // each directory held for the whole batch: the child reaches it as fd 3, 4, …
    const dirs = new Map<DirHandle, { fd: number; childFd: number } | { error: unknown }>();
    try {
      for (const { at } of batch) {
        if (dirs.has(at.dir)) continue;
        try {
          dirs.set(at.dir, { fd: at.dir.acquire(), childFd: 3 + dirs.size });
        } catch (e) {
          dirs.set(at.dir, { error: e });
        }
      }
      const lines: string[] = [];
      const fifos: string[] = [];
      for (const p of batch) {
        const d = dirs.get(p.at.dir)!;
        if ('error' in d) continue;
        const at = `/dev/fd/${d.childFd}/${p.tmp.toString('latin1')}`;
        if (p.node.type === 'fifo') fifos.push(at);
        else {
          const { major, minor } = deviceNumbers(p.node.rdev ?? 0);
          lines.push(`mknod -m 600 ${at} ${p.node.type === 'chardev' ? 'c' : 'b'} ${major} ${minor}`);
        }
      }
      if (fifos.length) lines.unshift(`mkfifo -m 600 ${fifos.join(' ')}`);
      const fds = [...dirs.values()].map((d) => ('error' in d ? 'ignore' : d.fd));
      const stderr = lines.length ? await runScript(lines.join('\n'), fds) : '';
      for (const p of batch) {
        const d = dirs.get(p.at.dir)!;
        if ('error' in d) {
          p.reject(d.error);
          continue;
        }
        if (!fs.lstatSync(inDir(d.fd, p.tmp), { throwIfNoEntry: false })) {
          p.reject(
            p.at.dir.removed() ??
              new CairnError('E_INTERNAL', `could not make ${p.node.type} ${displayPath(p.path)}: ${stderr.trim()}`),
          );
          continue;
        }
        placeSpecial(p.at, p.tmp, p.node, this.asRoot).then(p.resolve, p.reject);
      }
    } catch (e) {
      for (const p of batch) p.reject(e);
    } finally {
      for (const [dir, d] of dirs) if (!('error' in d)) dir.release();
    }
  }
}

/** Runs a shell script of ASCII commands with the given descriptors at fd 3, 4, …; returns its stderr. */
function runScript(script: string, fds: (number | 'ignore')[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe', ...fds] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', () => resolve(stderr));
  });
}

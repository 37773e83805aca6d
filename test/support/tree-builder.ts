// Builds a directory tree holding every case a restore must get right: files of several sizes
// (empty, small, several MB of random bytes spanning chunks, compressible text, duplicates),
// names with newline, tab and non-UTF-8 bytes, a 255-byte name, a 60-deep chain, symlinks
// (relative, absolute, dangling, to a directory), three names for one inode, a sparse file,
// a FIFO, setuid/setgid/sticky modes, a read-only directory with content, empty directories,
// owners and a device node when running as root, and mtimes with sub-second parts on files
// and directories. Content is deterministic (AES-CTR keystream of a fixed key).
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import fs from 'node:fs';

export type BuiltTree = {
  /** paths (Buffers, absolute) of the sparse file and its size */
  sparse: { path: Buffer; size: number };
  /** the three names of one inode */
  hardlinks: Buffer[];
  fifo: Buffer;
  /** a device node (only when running as root) */
  device?: Buffer;
  /** every regular file, for content checks */
  files: Buffer[];
  asRoot: boolean;
};

const SLASH = Buffer.from('/');

/** path + '/' + name with raw bytes. */
export function join(dir: Buffer | string, ...names: (Buffer | string)[]): Buffer {
  let out = Buffer.from(dir);
  for (const n of names) out = Buffer.concat([out, SLASH, Buffer.from(n)]);
  return out;
}

/** `size` deterministic pseudo-random bytes; `seed` picks the stream. */
export function pseudoRandom(size: number, seed: number): Buffer {
  const key = Buffer.alloc(32, seed & 0xff);
  key.writeUInt32BE(seed >>> 0, 0);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}

/** Seconds with a sub-microsecond part, as Node's utimes takes them. */
function at(seconds: number, fraction: number): number {
  return seconds + fraction;
}

export function buildHardTree(root: string): BuiltTree {
  const asRoot = process.getuid?.() === 0;
  fs.mkdirSync(root, { recursive: true });
  const R = Buffer.from(root);
  const files: Buffer[] = [];
  const file = (path: Buffer, content: Buffer | string, mode = 0o644) => {
    fs.writeFileSync(path, content, { mode });
    fs.chmodSync(path, mode); // writeFileSync's mode is filtered by the umask
    files.push(path);
    return path;
  };
  const dir = (path: Buffer, mode = 0o755) => {
    fs.mkdirSync(path);
    fs.chmodSync(path, mode);
    return path;
  };

  // regular files of several sizes, and content that compresses and that repeats
  file(join(R, 'empty'), '');
  file(join(R, 'small.txt'), 'hello, cairn\n');
  file(join(R, 'random-5m.bin'), pseudoRandom(5 * 1024 * 1024 + 123, 1));
  const text = Buffer.from('the quick brown fox jumps over the lazy dog 0123456789\n'.repeat(60_000));
  file(join(R, 'text-3m.txt'), text);
  file(join(R, 'text-3m-copy.txt'), text);
  file(join(R, 'mode-600'), 'private\n', 0o600);
  file(join(R, 'mode-000'), 'nobody\n', 0o000);

  // awkward names
  const names = dir(join(R, 'names'));
  file(join(names, 'new\nline'), 'newline in the name\n');
  file(join(names, 'tab\there'), 'tab in the name\n');
  file(join(names, Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x2d, 0xe9, 0xff, 0xfe])), 'not UTF-8\n');
  const nonUtf8Dir = dir(join(names, Buffer.from([0x64, 0x69, 0x72, 0x80, 0x81])));
  file(join(nonUtf8Dir, 'inside'), 'in a non-UTF-8 directory\n');
  file(join(names, 'n'.repeat(255)), '255-byte name\n');
  file(join(names, ' leading space'), 'space\n');
  file(join(names, '-dash'), 'dash\n');

  // a 60-deep chain
  let deep = dir(join(R, 'deep'));
  for (let i = 0; i < 60; i++) deep = dir(join(deep, `d${String(i).padStart(2, '0')}`));
  file(join(deep, 'bottom.txt'), 'sixty levels down\n');

  // symlinks
  const links = dir(join(R, 'links'));
  fs.symlinkSync('../small.txt', join(links, 'relative'));
  fs.symlinkSync('/etc/hostname', join(links, 'absolute'));
  fs.symlinkSync('does/not/exist', join(links, 'dangling'));
  fs.symlinkSync('../names', join(links, 'to-dir'));
  fs.symlinkSync(Buffer.from([0x74, 0xff, 0x0a]), join(links, 'odd-target'));

  // three names for one inode (two directories)
  const hl = dir(join(R, 'hardlinks'));
  const first = file(join(hl, 'a'), pseudoRandom(200_000, 2));
  fs.linkSync(first, join(hl, 'b'));
  fs.linkSync(first, join(links, 'c-hardlink'));
  const hardlinks = [first, join(hl, 'b'), join(links, 'c-hardlink')];

  // sparse: 64 MiB with 1 MiB of data in the middle, a hole at both ends
  const sparseSize = 64 * 1024 * 1024;
  const sparse = join(R, 'sparse.img');
  const fd = fs.openSync(sparse, 'w', 0o644);
  fs.ftruncateSync(fd, sparseSize);
  fs.writeSync(fd, pseudoRandom(1024 * 1024, 3), 0, 1024 * 1024, 32 * 1024 * 1024);
  fs.closeSync(fd);
  files.push(sparse);

  // special files
  const special = dir(join(R, 'special'));
  const fifo = join(special, 'fifo');
  mustRun('mkfifo', ['-m', '640', fifo.toString()]);
  let device: Buffer | undefined;
  if (asRoot) {
    device = join(special, 'null-like');
    mustRun('mknod', ['-m', '666', device.toString(), 'c', '1', '3']);
  }

  // modes
  const modes = dir(join(R, 'modes'));
  file(join(modes, 'setuid'), '#!/bin/sh\n', 0o4755);
  file(join(modes, 'setgid'), '#!/bin/sh\n', 0o2755);
  dir(join(modes, 'sticky-dir'), 0o1777);
  dir(join(modes, 'setgid-dir'), 0o2775);
  const readOnly = dir(join(modes, 'read-only-dir'));
  file(join(readOnly, 'inside.txt'), 'in a read-only directory\n', 0o444);
  dir(join(readOnly, 'sub'));

  // empty directories
  dir(join(R, 'empty-dir'));
  dir(join(dir(join(R, 'empty-outer')), 'empty-inner'));

  // owners (root only)
  if (asRoot) {
    const owned = file(join(R, 'owned-by-1234'), 'owned\n');
    fs.chownSync(owned, 1234, 5678);
    fs.lchownSync(join(links, 'relative'), 4321, 8765);
    fs.chownSync(join(R, 'empty-dir'), 1111, 2222);
    // chown clears setuid: set it again so the restore must order chown before chmod
    const suid = file(join(modes, 'setuid-owned'), '#!/bin/sh\n', 0o4755);
    fs.chownSync(suid, 1234, 5678);
    fs.chmodSync(suid, 0o4755);
  }

  // specific times with sub-second parts, on files, symlinks and (last, deepest first) directories
  fs.utimesSync(join(R, 'small.txt'), at(1_600_000_000, 0.123456789), at(1_600_000_000, 0.123456789));
  fs.utimesSync(join(R, 'empty'), at(1_000_000_000, 0.5), at(1_000_000_000, 0.000001));
  fs.utimesSync(first, at(1_700_000_000, 0.999999), at(1_700_000_000, 0.999999));
  fs.lutimesSync(join(links, 'dangling'), at(1_500_000_000, 0.25), at(1_500_000_000, 0.25));
  fs.utimesSync(join(R, 'modes', 'setuid'), 86_400.75, 86_400.75);
  setDirTimes(R, 1_650_000_000);
  fs.chmodSync(readOnly, 0o555);
  return { sparse: { path: sparse, size: sparseSize }, hardlinks, fifo, device, files, asRoot };
}

/** Gives every directory under (and including) `root` its own mtime, children before parents. */
function setDirTimes(root: Buffer, base: number): void {
  let n = 0;
  const visit = (d: Buffer) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true, encoding: 'buffer' })) {
      if (e.isDirectory()) visit(join(d, e.name));
    }
    n++;
    const t = base + n * 1000 + (n % 7) * 0.1234567;
    fs.utimesSync(d, t, t);
  };
  visit(root);
}

function mustRun(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`);
}

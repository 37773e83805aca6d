// Reads extended attributes one directory at a time, as the walk reaches it: the entries the walk
// keeps (after excludes, caches and --one-file-system) go to
// `getfattr -h -d -m - -e base64 --absolute-names --` (no symlink followed, every namespace,
// values in base64) as arguments when they are UTF-8 and fit, else NUL-separated through
// `xargs -0`: there the names stay raw bytes (Node's argv is UTF-8, so a non-UTF-8 name could not
// be an argument of ours) and xargs splits them into as few getfattr runs as the argument limit
// allows. Nothing is read under an excluded path and nothing before the walk. A few reads run
// while the walk goes on (MAX_RUNNING), so memory is a few directories' attributes. getfattr
// missing (Debian package `attr`) → one warning, backup without them.
import { isUtf8 } from 'node:buffer';
import { spawn } from 'node:child_process';
import { MAX_XATTR_BYTES, type Xattr, xattrBytes } from '../../core/tree.ts';
import { displayPath, type WarningSink } from '../scan.ts';
import { XattrDumpParser } from '../xattr-dump.ts';

/** Path bytes (as a latin1 string) → the path's attributes, sorted by name bytes. */
export type XattrMap = Map<string, Xattr[]>;

const STDERR_KEPT = 4096;
/** getfattr runs at once: the walk goes on while a directory's attributes are read */
const MAX_RUNNING = 4;
const GETFATTR = ['getfattr', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--'];

export class XattrReader {
  #warnings: WarningSink;
  /** set once getfattr (or xargs) turned out missing: the rest of the run goes without */
  #missing = false;

  constructor(warnings: WarningSink) {
    this.#warnings = warnings;
  }

  /** getfattr runs in flight, and the readers waiting for one to end */
  #running = 0;
  #waiting: (() => void)[] = [];

  /**
   * Starts reading the attributes of `paths` (entries of directory `dir`) once fewer than
   * MAX_RUNNING reads are in flight (the walk waits here: that bounds the processes and the
   * memory); `done` is the map of those that have any.
   */
  async begin(dir: Buffer, paths: Buffer[]): Promise<{ done: Promise<XattrMap> }> {
    const map: XattrMap = new Map();
    if (this.#missing || paths.length === 0) return { done: Promise.resolve(map) };
    if (this.#running >= MAX_RUNNING) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running++;
    const done = this.#run(dir, paths, map).then(() => map);
    const release = () => {
      this.#running--;
      this.#waiting.shift()?.();
    };
    done.then(release, release);
    return { done };
  }

  /** The attributes of `paths` that have any, read now. */
  async read(dir: Buffer, paths: Buffer[]): Promise<XattrMap> {
    return (await this.begin(dir, paths)).done;
  }

  #run(dir: Buffer, paths: Buffer[], map: XattrMap): Promise<void> {
    return new Promise((resolve, reject) => {
      // Most directories: getfattr alone, names as arguments (one process start, not two).
      const direct = fitsArgv(paths);
      const child = direct
        ? spawn(GETFATTR[0]!, [...GETFATTR.slice(1), ...paths.map((p) => p.toString('utf8'))], { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('xargs', ['-0', '-r', ...GETFATTR], { stdio: ['pipe', 'pipe', 'pipe'] });
      const parser = new XattrDumpParser((path, attrs) => {
        if (xattrBytes(attrs) > MAX_XATTR_BYTES) {
          this.#warnings.push({
            path: displayPath(path),
            reason: `extended attributes not saved: more than ${MAX_XATTR_BYTES} bytes`,
          });
          return;
        }
        map.set(path.toString('latin1'), attrs);
      });
      let pending = '';
      child.stdout.setEncoding('latin1'); // one character per byte: names are raw bytes
      child.stdout.on('data', (text: string) => {
        const lines = (pending + text).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) parser.line(line);
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        if (stderr.length < STDERR_KEPT) stderr += text;
      });
      if (child.stdin) {
        child.stdin.on('error', () => undefined); // xargs gone early: its exit status says why
        const list: Buffer[] = [];
        for (const p of paths) list.push(p, NUL);
        child.stdin.end(Buffer.concat(list));
      }
      let spawnFailed = false;
      child.on('error', (e: NodeJS.ErrnoException) => {
        spawnFailed = true;
        if (e.code !== 'ENOENT') return reject(e);
        this.#gone(dir, direct ? 'getfattr not installed (Debian package attr)' : 'xargs not installed (Debian package findutils)');
        resolve();
      });
      child.on('close', (code) => {
        if (spawnFailed) return; // reported by 'error'
        if (code === null) return reject(new Error('getfattr was killed'));
        // xargs: 127 = command not found, 126 = not runnable
        if (!direct && code === 127) return resolve(this.#gone(dir, 'getfattr not installed (Debian package attr)'));
        if (pending) parser.line(pending);
        parser.end();
        // getfattr goes on past unreadable paths and exits 1 (xargs 123), naming each on stderr.
        // Paths gone or not readable are the walk's to report (it meets the same ones).
        for (const line of stderr.split('\n')) {
          const message = line.replace(/^getfattr: /, '').trim();
          if (message && !/^Removing leading|: (No such file or directory|Permission denied)$/.test(message))
            this.#warnings.push({ path: displayPath(dir), reason: `xattrs: ${message}` });
        }
        resolve();
      });
    });
  }

  #gone(dir: Buffer, why: string): void {
    if (this.#missing) return; // told by a read that ran alongside
    this.#missing = true;
    this.#warnings.push({ path: displayPath(dir), reason: `xattrs not captured: ${why}` });
  }
}

const NUL = Buffer.from([0]);
/** bytes of names passed as arguments at most (Linux allows 2 MiB with the environment) */
const ARGV_BYTES = 256 * 1024;

/** true when the names can be getfattr's own arguments: UTF-8 (Node's argv) and few enough bytes */
function fitsArgv(paths: Buffer[]): boolean {
  let bytes = 0;
  for (const p of paths) {
    bytes += p.length + 1;
    if (bytes > ARGV_BYTES || !isUtf8(p)) return false;
  }
  return true;
}

// Reads extended attributes one directory at a time, as the walk reaches it: the entries the walk
// keeps (after excludes, caches and --one-file-system) go to
// `getfattr -h -d -m - -e base64 --absolute-names --` (no symlink followed, every namespace,
// values in base64). Nothing is read under an excluded path and nothing before the walk.
//
// getfattr is started by one long-lived /bin/sh, not by the agent: starting a process from the
// agent costs time in proportion to its memory (about 45 ms per start at 300 MB, 6 ms when
// small), once per directory. The names are written to the shell as single-quoted raw bytes, so
// names that are not UTF-8 pass unchanged (Node's own argv is UTF-8). Each directory's request
// ends with a marker on stdout and on stderr; requests are answered in order, a few in flight
// (MAX_PENDING) while the walk goes on, so memory is a few dozen directories' names. getfattr
// missing (Debian package `attr`) → one warning, backup without them.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { MAX_XATTR_BYTES, type Xattr, xattrBytes } from '../../core/tree.ts';
import { displayPath, type WarningSink } from '../scan.ts';
import { XattrDumpParser } from '../xattr-dump.ts';

/** Path bytes (as a latin1 string) → the path's attributes, sorted by name bytes. */
export type XattrMap = Map<string, Xattr[]>;

const STDERR_KEPT = 4096;
/** directories asked for and not yet answered; the walk waits for a place (at 4, a loaded machine's
 * process-start latency held the walk up: 20,000 files in 100 directories took 1.7× as long) */
const MAX_PENDING = 32;
/** bytes of names in one getfattr command (Linux allows 2 MiB of arguments and environment) */
const ARGV_BYTES = 256 * 1024;
const END = '# cairn-end';
const GETFATTR = Buffer.from('getfattr -h -d -m - -e base64 --absolute-names --');
const REQUEST_END = Buffer.from(`\necho '${END}'; echo '${END}' >&2\n`);

type Request = {
  dir: Buffer;
  map: XattrMap;
  parser: XattrDumpParser;
  stderr: string;
  ends: number; // markers seen: done at 2
  resolve: (map: XattrMap) => void;
  reject: (e: unknown) => void;
};

type Shell = ChildProcessByStdio<Writable, Readable, Readable>;

export class XattrReader {
  #warnings: WarningSink;
  /** set once getfattr turned out missing: the rest of the run goes without */
  #missing = false;
  #shell: Shell | undefined;
  #pending: Request[] = [];
  #outAt = 0; // index in #pending of the request stdout is answering
  #errAt = 0;
  #waiting: (() => void)[] = [];

  constructor(warnings: WarningSink) {
    this.#warnings = warnings;
  }

  /**
   * Asks for the attributes of `paths` (entries of directory `dir`) once fewer than MAX_PENDING
   * are in flight; `done` is the map of those that have any.
   */
  async begin(dir: Buffer, paths: Buffer[]): Promise<{ done: Promise<XattrMap> }> {
    if (this.#missing || paths.length === 0) return { done: Promise.resolve(new Map()) };
    while (this.#pending.length >= MAX_PENDING) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    const shell = this.#shell ?? this.#start();
    const map: XattrMap = new Map();
    const done = new Promise<XattrMap>((resolve, reject) => {
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
      this.#pending.push({ dir, map, parser, stderr: '', ends: 0, resolve, reject });
    });
    shell.stdin.write(command(paths));
    return { done };
  }

  /** The attributes of `paths` that have any, read now. */
  async read(dir: Buffer, paths: Buffer[]): Promise<XattrMap> {
    return (await this.begin(dir, paths)).done;
  }

  /** Ends the shell (call after the walk). */
  close(): void {
    this.#shell?.stdin.end();
    this.#shell = undefined;
  }

  #start(): Shell {
    const shell = spawn('/bin/sh', [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#shell = shell;
    shell.stdin.on('error', () => undefined); // the shell gone: 'close' says so
    lines(shell.stdout, (line) => {
      const r = this.#pending[this.#outAt];
      if (r && line === END) this.#outAt++;
      this.#answer(r, line, (l) => r!.parser.line(l));
    });
    lines(shell.stderr, (line) => {
      const r = this.#pending[this.#errAt];
      if (r && line === END) this.#errAt++;
      this.#answer(r, line, (l) => {
        if (r!.stderr.length < STDERR_KEPT) r!.stderr += `${l}\n`;
      });
    });
    const fail = (e: unknown) => {
      for (const r of this.#pending) r.reject(e);
      this.#pending = [];
      this.#outAt = this.#errAt = 0;
      if (this.#shell === shell) this.#shell = undefined;
      for (const wake of this.#waiting.splice(0)) wake();
    };
    shell.on('error', fail);
    shell.on('close', () => {
      if (this.#pending.length) fail(new Error('the shell reading extended attributes ended early'));
    });
    return shell;
  }

  /** A line of `r`'s answer on stdout or stderr: its end marker, or `take`n. */
  #answer(r: Request | undefined, line: string, take: (line: string) => void): void {
    if (!r) return;
    if (line !== END) return take(line);
    if (++r.ends < 2) return;
    this.#pending.shift();
    this.#outAt--;
    this.#errAt--;
    this.#waiting.shift()?.();
    r.parser.end();
    // getfattr goes on past unreadable paths, naming each on stderr. Paths gone or not readable
    // are the walk's to report (it meets the same ones): the rest are warnings.
    for (const line of r.stderr.split('\n')) {
      const message = Buffer.from(line, 'latin1').toString().replace(/^getfattr: /, '').trim();
      if (/getfattr: not found$/.test(message)) {
        this.#gone(r.dir);
        break;
      }
      if (message && !/^Removing leading|: (No such file or directory|Permission denied)$/.test(message))
        this.#warnings.push({ path: displayPath(r.dir), reason: `xattrs: ${message}` });
    }
    r.resolve(r.map);
  }

  #gone(dir: Buffer): void {
    if (this.#missing) return; // told by an earlier directory's answer
    this.#missing = true;
    this.#warnings.push({ path: displayPath(dir), reason: 'xattrs not captured: getfattr not installed (Debian package attr)' });
  }
}

/** Shell text asking for `paths`' attributes in getfattr commands that fit, then the markers. */
function command(paths: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let bytes = ARGV_BYTES;
  for (const p of paths) {
    if (bytes + p.length > ARGV_BYTES) {
      parts.push(parts.length ? NEWLINE : EMPTY, GETFATTR);
      bytes = 0;
    }
    parts.push(SPACE, quote(p));
    bytes += p.length + 1;
  }
  parts.push(REQUEST_END);
  return Buffer.concat(parts);
}

/** A single-quoted shell word of exactly these bytes (a quote itself as '\''). */
function quote(p: Buffer): Buffer {
  if (!p.includes(0x27)) return Buffer.concat([QUOTE, p, QUOTE]);
  const out: Buffer[] = [QUOTE];
  let from = 0;
  for (let i = p.indexOf(0x27); i >= 0; i = p.indexOf(0x27, from)) {
    out.push(p.subarray(from, i), ESCAPED_QUOTE);
    from = i + 1;
  }
  out.push(p.subarray(from), QUOTE);
  return Buffer.concat(out);
}

/** Calls `onLine` for each line of `stream` (read as latin1: one character per byte). */
function lines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('latin1');
  stream.on('data', (text: string) => {
    const all = (pending + text).split('\n');
    pending = all.pop() ?? '';
    for (const line of all) onLine(line);
  });
}

const QUOTE = Buffer.from("'");
const ESCAPED_QUOTE = Buffer.from("'\\''");
const SPACE = Buffer.from(' ');
const NEWLINE = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

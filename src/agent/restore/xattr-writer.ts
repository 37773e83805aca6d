// Sets restored entries' extended attributes. Node has no xattr call, so entries are queued and
// handed in batches to ONE `setfattr -h --restore=-` each (getfattr's dump format on stdin; -h:
// a symlink gets its own attributes, never its target's). setfattr goes on past a failure and
// names the path on stderr; that failure goes back to the entry's callback, so the restorer can
// list it as damaged. The restorer holds the entry's directory open until the callback ran,
// so directory modes and times are set after the attributes of everything in them. Paths in the
// dump are never the entries' own: each directory's held-open descriptor (dir-handles.ts) is
// handed to setfattr as fd 3, 4, … and an entry is named /proc/self/fd/N/<name> (a directory
// itself as /proc/self/fd/N/.), so no swapped directory can redirect an attribute.
//
// Without root, `trusted.*` and `security.*` cannot be set (the kernel refuses): they are
// skipped rather than reported, as the restore could never have set them.
import { spawn } from 'node:child_process';
import { isCairnError } from '../../core/errors.ts';
import type { Xattr } from '../../core/tree.ts';
import { escapeDumpName, formatXattrDump } from '../xattr-dump.ts';
import type { DirHandle, Placed } from './dir-handles.ts';

/** Called once per entry: undefined when every attribute was set, else why not. */
export type XattrDone = (failure: string | undefined) => void;

type Entry = { at: Placed; attrs: Xattr[]; done: XattrDone };

const BATCH_ENTRIES = 256;
const BATCH_BYTES = 4 * 1024 * 1024;
const PRIVILEGED = [Buffer.from('trusted.'), Buffer.from('security.')];

export class XattrWriter {
  #asRoot: boolean;
  #queue: Entry[] = [];
  #queuedBytes = 0;
  #running: Promise<void> = Promise.resolve();
  #missing = false;

  constructor(asRoot: boolean) {
    this.#asRoot = asRoot;
  }

  /** Queues one restored entry's attributes; `done` is called later (or now, when nothing is to be set). */
  add(at: Placed, attrs: Xattr[], done: XattrDone): void {
    const settable = this.#asRoot
      ? attrs
      : attrs.filter((a) => !PRIVILEGED.some((prefix) => a.name.subarray(0, prefix.length).equals(prefix)));
    if (settable.length === 0) {
      done(undefined);
      return;
    }
    this.#queue.push({ at, attrs: settable, done });
    for (const a of settable) this.#queuedBytes += a.name.length + a.value.length;
    if (this.#queue.length >= BATCH_ENTRIES || this.#queuedBytes >= BATCH_BYTES) void this.#flush();
  }

  /** Sets everything queued; resolves when every batch has run. */
  async drain(): Promise<void> {
    await this.#flush();
  }

  #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    // one setfattr at a time: batches stay in order and the process count stays at one
    this.#running = this.#running.then(() => (batch.length ? this.#run(batch) : undefined));
    return this.#running;
  }

  async #run(batch: Entry[]): Promise<void> {
    if (this.#missing) {
      for (const e of batch) e.done('xattrs not restored: setfattr not installed (Debian package attr)');
      return;
    }
    // each directory held while setfattr runs: the child reaches it as fd 3, 4, …
    const dirs = new Map<DirHandle, { fd: number; childFd: number }>();
    const named = new Map<Entry, Buffer>();
    for (const e of batch) {
      let d = dirs.get(e.at.dir);
      if (!d) {
        try {
          d = { fd: e.at.dir.acquire(), childFd: 3 + dirs.size };
        } catch (err) {
          e.done(`xattrs not restored: ${isCairnError(err) ? `${err.code}: ` : ''}${(err as Error).message}`);
          continue;
        }
        dirs.set(e.at.dir, d);
      }
      named.set(e, Buffer.concat([Buffer.from(`/proc/self/fd/${d.childFd}/`), e.at.name]));
    }
    const entries = batch.filter((e) => named.has(e));
    let outcome: Awaited<ReturnType<typeof runSetfattr>>;
    try {
      const dump = entries.map((e) => formatXattrDump(named.get(e)!, e.attrs)).join('');
      outcome = await runSetfattr(dump, [...dirs.values()].map((d) => d.fd));
    } finally {
      for (const dir of dirs.keys()) dir.release();
    }
    const { stderr, notInstalled, failed } = outcome;
    if (notInstalled) {
      this.#missing = true;
      return this.#run(entries);
    }
    // stderr lines read "setfattr: <path as escaped in the dump>: <reason>"
    const reasons = new Map<Entry, string[]>();
    const unmatched: string[] = [];
    const byLength = [...entries].sort((a, b) => named.get(b)!.length - named.get(a)!.length); // longest first: no prefix mix-up
    const escaped = new Map(byLength.map((e) => [e, `setfattr: ${escapeDumpName(named.get(e)!)}: `]));
    for (const line of stderr.split('\n')) {
      if (!line) continue;
      const entry = byLength.find((e) => line.startsWith(escaped.get(e)!));
      if (!entry) unmatched.push(line);
      else reasons.set(entry, [...(reasons.get(entry) ?? []), line.slice(escaped.get(entry)!.length)]);
    }
    for (const e of entries) {
      const why = reasons.get(e);
      if (why) e.done(`xattrs not restored: ${why.join('; ')}`);
      else if (failed && reasons.size === 0)
        e.done(`xattrs not restored: setfattr failed${unmatched.length ? `: ${unmatched.join('; ')}` : ''}`);
      else e.done(undefined);
    }
  }
}

function runSetfattr(dump: string, fds: number[]): Promise<{ stderr: string; notInstalled: boolean; failed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('setfattr', ['-h', '--restore=-'], { stdio: ['pipe', 'ignore', 'pipe', ...fds] });
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | undefined;
    child.stderr!.setEncoding('latin1'); // paths in messages are raw bytes, as in the dump
    child.stderr!.on('data', (text: string) => {
      stderr += text;
    });
    child.stdin!.on('error', () => undefined); // a setfattr that exits early closes the pipe: its exit says why
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.on('close', (code) => {
      if (spawnError?.code === 'ENOENT') resolve({ stderr: '', notInstalled: true, failed: true });
      else if (spawnError) resolve({ stderr: `setfattr: ${spawnError.message}`, notInstalled: false, failed: true });
      else resolve({ stderr, notInstalled: false, failed: code !== 0 });
    });
    child.stdin!.end(dump, 'latin1');
  });
}

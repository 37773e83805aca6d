// The restore's flushes (dir-sync.ts), each a syncfs(2) of one file system. Node has no binding
// for syncfs and coreutils' `sync -f` is a process, but starting a process forks the agent, and
// a fork write-protects every page the agent has mapped: each page it wrote afterwards took a
// fault again (the ring, the heaps, the buffers: ~7,000 faults and ~8 ms of CPU per flush, on
// the restore's busiest threads, measured in docs/performance.md, "twelfth part"). So each file
// system gets one small shell, started at its first flush with the directory as its descriptor
// 3, that runs `sync -f /proc/self/fd/3` for every line it reads and answers `ok` or why not;
// the shell's own forks are small. close() ends its input and it exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Flushes the file system of the open directory `fd`; rejects with why it could not. */
export type SyncFs = (fd: number) => Promise<void>;

const FLUSHER =
  'while read -r _; do if out=$(sync -f /proc/self/fd/3 2>&1); then echo ok; ' +
  'else printf "failed: %s\\n" "$(printf %s "$out" | tr "\\n" " ")"; fi; done';

/** One shell flushing one descriptor's file system, a flush at a time, in the order asked. */
class Flusher {
  readonly #child: ChildProcess;
  readonly #waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #gone: Error | undefined;

  constructor(fd: number) {
    this.#child = spawn('sh', ['-c', FLUSHER], { stdio: ['pipe', 'pipe', 'ignore', fd] });
    this.#child.on('error', (e) => this.#end(e));
    // 'close', not 'exit': an answer the shell wrote just before it exited is read first
    this.#child.on('close', (code, signal) => this.#end(new Error(`the flushing shell exited (${code ?? signal})`)));
    this.#child.stdin!.on('error', (e) => this.#end(e));
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const waiter = this.#waiting.shift();
      if (line === 'ok') waiter?.resolve();
      else waiter?.reject(new Error(line.replace(/^failed: /, '').trim() || 'sync -f failed'));
    });
  }

  flush(): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin!.write('\n');
    });
  }

  /** No more flushes: the shell reads the end of its input and exits (after a flush under way). */
  close(): void {
    this.#child.stdin!.end();
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #end(e: Error): void {
    this.#gone ??= e;
    for (const w of this.#waiting.splice(0)) w.reject(this.#gone);
  }
}

/** A SyncFs that keeps one flushing shell per descriptor until close(). */
export class ShellSyncs {
  readonly #byFd = new Map<number, Flusher>();

  sync: SyncFs = (fd) => {
    let flusher = this.#byFd.get(fd);
    if (!flusher) {
      try {
        flusher = new Flusher(fd);
      } catch (e) {
        return Promise.reject(e as Error); // a descriptor that cannot be handed on (closed)
      }
      this.#byFd.set(fd, flusher);
    }
    return flusher.flush();
  };

  /** The shells started so far, by descriptor (for tests). */
  get shells(): (number | undefined)[] {
    return [...this.#byFd.values()].map((f) => f.pid);
  }

  close(): void {
    for (const f of this.#byFd.values()) f.close();
    this.#byFd.clear();
  }
}

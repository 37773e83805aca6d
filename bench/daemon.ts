// Long-running processes the benchmark starts around a tool (Cairn's server, storage server and
// agent): start one and wait for its first stdout line, stop it, and read or reset its peak
// resident memory (Linux VmHWM), so each timed phase can report the peak of the daemons that
// did the work, not only of the short CLI process that asked for it.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { failureLine } from './measure.ts';

export interface Daemon {
  child: ChildProcess;
  /** The first line it printed on stdout (a URL, or "agent NAME enrolled with …"). */
  firstLine: string;
  /** The last few KiB of its stderr, for a failure message. */
  stderrTail(): string;
}

const START_TIMEOUT_MS = 60_000;

/** Spawns argv and resolves once it printed its first stdout line; rejects if it exits first. */
export function startDaemon(argv: string[], env: Record<string, string>): Promise<Daemon> {
  const [file, ...args] = argv;
  if (!file) throw new Error('empty command');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let started = false;
    const what = args.slice(0, 2).join(' ');
    const fail = (why: string) => {
      if (started) return;
      started = true; // only once
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`cairn ${what}: ${why} ${failureLine(err)}`.trim()));
    };
    const timer = setTimeout(() => fail(`printed nothing within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err = (err + s).slice(-4096);
    });
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (started) return; // keep draining so the daemon never blocks on a full pipe
      out += s;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      started = true;
      clearTimeout(timer);
      resolve({ child, firstLine: out.slice(0, newline).trim(), stderrTail: () => err });
    });
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code, signal) => fail(`exited ${code ?? signal} before it started`));
  });
}

/** SIGTERM, then SIGKILL after 5 s if it is still there; resolves when it has exited. */
export async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Peak resident memory of a live process in KiB (Linux VmHWM), or null once it is gone. */
export function peakRssOf(pid: number | undefined): number | null {
  return statusKiB(pid, 'VmHWM');
}

/** Current resident memory of a live process in KiB (Linux VmRSS), or null once it is gone. */
export function rssOf(pid: number | undefined): number | null {
  return statusKiB(pid, 'VmRSS');
}

/** A `kB` field of /proc/PID/status, or null once the process is gone. */
function statusKiB(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | null {
  if (pid === undefined) return null;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // the process has exited: nothing to read
  }
}

/** CPU seconds (user + system, all its threads) a live process has used so far, or null once it is gone. */
export function cpuSecondsOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name, which is in parentheses and may hold spaces
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** USER_HZ: the unit of /proc/PID/stat's times (100 on every Linux Node runs on). */
const CLOCK_TICKS = 100;

/**
 * Sets a process's VmHWM back to its current RSS (Linux ≥ 4.0: `echo 5 > /proc/PID/clear_refs`),
 * so the next read is the peak since now. False when the kernel or permissions refuse: the
 * next read is then the peak since the process started.
 */
export function resetPeakRss(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

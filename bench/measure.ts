// How the benchmark measures: runs a client command as a whole process under GNU time (wall
// seconds from spawn to exit, peak RSS from `%M`), sizes a repository with `du -sb`, sums a
// tree's file bytes, and checks a restore against its source with rsync.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Cmd {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TimedResult extends CmdResult {
  timedOut: boolean;
  seconds: number;
  peakRssKiB: number | null;
  /** user + system CPU seconds of the timed process */
  cpuSeconds: number | null;
}

const KEEP_OUTPUT = 256 * 1024; // a chatty client must not fill the harness's memory

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (s: string) => {
    text += s;
    if (text.length > 2 * KEEP_OUTPUT) text = text.slice(-KEEP_OUTPUT);
  });
  return () => text;
}

/**
 * Runs a command to completion; never throws for a non-zero exit (callers decide). With
 * `timeoutMs`, a command still running then is stopped with its whole process group (it runs in
 * one of its own, so a client under /usr/bin/time goes too) and reports `timedOut`.
 */
export function run(cmd: Cmd, timeoutMs?: number): Promise<CmdResult & { timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = cmd.argv;
    if (!file) throw new Error('empty command');
    const child = spawn(file, args, {
      cwd: cmd.cwd,
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: timeoutMs !== undefined,
    });
    const out = collect(child.stdout);
    const err = collect(child.stderr);
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is already gone: nothing left to stop
      }
    };
    const timers =
      timeoutMs === undefined
        ? []
        : [
            setTimeout(() => {
              timedOut = true;
              killGroup('SIGTERM');
            }, timeoutMs),
            setTimeout(() => killGroup('SIGKILL'), timeoutMs + 10_000),
          ];
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      if (timedOut) killGroup('SIGKILL'); // leave no stray grandchild behind
      resolve({ code: code ?? (signal ? 128 : 1), stdout: out(), stderr: err(), timedOut });
    });
  });
}

/** The JSON a client printed on stdout (whole, pretty-printed or as its last line), if any. */
export function parseJsonOutput(stdout: string): unknown {
  const text = stdout.trim();
  const candidates = [text, text.slice(text.search(/^[{[]/m)), text.split('\n').at(-1) ?? ''];
  for (const candidate of candidates) {
    if (!/^[{[]/.test(candidate)) continue;
    try {
      return JSON.parse(candidate);
    } catch {
      // not this shape: try the next
    }
  }
  return undefined;
}

/** Runs a command and fails with its stderr when it exits non-zero. */
export async function runChecked(cmd: Cmd): Promise<CmdResult> {
  const r = await run(cmd);
  if (r.code !== 0)
    throw new Error(`${cmd.argv.join(' ')} exited ${r.code}: ${failureLine(r.stderr || r.stdout)}`);
  return r;
}

export function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/** The line of a failed command's output that says why: an error line if any, else the last. */
export function failureLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines.find((l) => /^(\w*Error\b|cairn:|fatal|error)/i.test(l.trim()))?.trim() ?? lastLines(text, 2);
}

/**
 * Runs a command under `/usr/bin/time -f '%M %U %S'`, timing the whole process from spawn to
 * exit: its peak RSS and its CPU seconds (user + system, its threads and waited-for children).
 */
export async function runTimed(cmd: Cmd, timeoutMs: number): Promise<TimedResult> {
  const rssFile = path.join(os.tmpdir(), `cairn-bench-rss-${process.pid}-${Date.now()}`);
  const started = performance.now();
  const r = await run({ ...cmd, argv: ['/usr/bin/time', '-f', '%M %U %S', '-o', rssFile, '--', ...cmd.argv] }, timeoutMs);
  const seconds = (performance.now() - started) / 1000;
  let peakRssKiB: number | null = null;
  let cpuSeconds: number | null = null;
  try {
    // GNU time writes "Command exited with non-zero status N" above the values on failure.
    const last = fs.readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '';
    const m = /^(\d+) ([\d.]+) ([\d.]+)$/.exec(last);
    peakRssKiB = m ? Number(m[1]) : null;
    cpuSeconds = m ? Number(m[2]) + Number(m[3]) : null;
    fs.rmSync(rssFile, { force: true });
  } catch {
    peakRssKiB = null; // time did not run far enough to write it; the exit code says why
  }
  return { ...r, seconds, peakRssKiB, cpuSeconds };
}

/** Apparent size in bytes of everything under dir (`du -sb`), as the repository-size delta uses. */
export async function duBytes(dir: string): Promise<number> {
  const r = await runChecked({ argv: ['du', '-sb', dir] });
  return Number(r.stdout.split('\t')[0]);
}

export interface TreeStats {
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
}

/** Counts a tree's regular files (each inode once), their bytes, directories and symlinks. */
export function treeStats(root: string): TreeStats {
  const stats: TreeStats = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
  const inodes = new Set<string>();
  const walk = (dir: string): void => {
    stats.dirs++;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.isSymbolicLink()) stats.symlinks++;
      else if (entry.isFile()) {
        const st = fs.lstatSync(abs);
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && inodes.has(key)) continue;
        inodes.add(key);
        stats.files++;
        stats.bytes += st.size;
      }
    }
  };
  walk(root);
  return stats;
}

/**
 * Where a tool put the restored copy of `source` under `target`: tools that keep absolute
 * paths (restic, borg, cairn) put it at target + source; others at target itself.
 */
export function locateRestored(target: string, source: string): string | null {
  const candidates = [path.join(target, source), path.join(target, path.basename(source)), target];
  return (
    candidates.find(
      (c) => fs.existsSync(c) && fs.statSync(c).isDirectory() && fs.readdirSync(c).length > 0,
    ) ?? null
  );
}

export interface VerifyResult {
  ok: boolean;
  restoredAt: string | null;
  differences: string[];
  differenceCount: number;
}

/** rsync -aH --checksum --dry-run --itemize-changes prints nothing when the restore is identical. */
export async function verifyRestore(source: string, target: string): Promise<VerifyResult> {
  const restoredAt = locateRestored(target, source);
  if (!restoredAt)
    return { ok: false, restoredAt, differences: ['restored tree not found'], differenceCount: 1 };
  const r = await run({
    argv: ['rsync', '-aH', '--checksum', '--dry-run', '--itemize-changes', `${source}/`, `${restoredAt}/`],
  });
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  if (r.code !== 0) lines.unshift(`rsync exited ${r.code}: ${lastLines(r.stderr)}`);
  return {
    ok: lines.length === 0,
    restoredAt,
    differences: lines.slice(0, 20),
    differenceCount: lines.length,
  };
}

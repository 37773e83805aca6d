// The backup tools the benchmark compares, each as a small adapter: how to make a fresh
// repository, the backup and restore commands (timed as whole processes by the harness), and
// which directory holds what the tool stored. Cairn's flags live in CAIRN_CLI, in one place.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Cmd, failureLine, parseJsonOutput, runChecked } from './measure.ts';

const PASSPHRASE = 'cairn-bench-passphrase';

/** One fresh repository of one tool for one benchmark run. */
export interface ToolSession {
  /** What the "new bytes stored" delta measures with du. */
  storedDir: string;
  backup(source: string, number: number): Cmd;
  /** Sees each successful backup's stdout (Cairn takes the snapshot id from it). */
  afterBackup?(stdout: string): void;
  restore(target: string): Cmd;
  /** Extra facts for the results (the storage server's peak RSS). */
  facts?(): Record<string, number | string | null>;
  stop(): Promise<void>;
}

export interface BenchTool {
  name: string;
  /** Binary that must be on PATH; the Debian package list installs it when missing. */
  requires: string | null;
  version(): Promise<string>;
  open(workDir: string): Promise<ToolSession>;
}

export const restic: BenchTool = {
  name: 'restic',
  requires: 'restic',
  version: async () => (await runChecked({ argv: ['restic', 'version'] })).stdout.trim(),
  async open(workDir) {
    const repo = path.join(workDir, 'restic-repo');
    const env = {
      RESTIC_REPOSITORY: repo,
      RESTIC_PASSWORD: PASSPHRASE,
      RESTIC_CACHE_DIR: path.join(workDir, 'restic-cache'),
    };
    await runChecked({ argv: ['restic', 'init'], env });
    return {
      storedDir: repo,
      backup: (source) => ({ argv: ['restic', 'backup', '--host', 'bench', source], env }),
      restore: (target) => ({ argv: ['restic', 'restore', 'latest', '--target', target], env }),
      stop: async () => {},
    };
  },
};

function borgWith(name: string, compression: string): BenchTool {
  return {
    name,
    requires: 'borg',
    version: async () =>
      `${(await runChecked({ argv: ['borg', '--version'] })).stdout.trim()}, --compression ${compression}`,
    async open(workDir) {
      const repo = path.join(workDir, 'borg-repo');
      const env = {
        BORG_PASSPHRASE: PASSPHRASE,
        BORG_BASE_DIR: path.join(workDir, 'borg-home'), // its files cache is part of the fresh run
        BORG_DISPLAY_PASSPHRASE: 'no',
      };
      await runChecked({ argv: ['borg', 'init', '-e', 'repokey', repo], env });
      let lastArchive = '';
      return {
        storedDir: repo,
        backup: (source, n) => {
          lastArchive = `${repo}::backup-${n}`;
          return { argv: ['borg', 'create', '--compression', compression, lastArchive, source], env };
        },
        restore: (target) => ({ argv: ['borg', 'extract', lastArchive], env, cwd: target }),
        stop: async () => {},
      };
    },
  };
}

export const borg = borgWith('borg', 'zstd,3');
export const borgLz4 = borgWith('borg-lz4', 'lz4');

// ---- Cairn -------------------------------------------------------------------------------

const checkoutRoot = path.resolve(import.meta.dirname, '..');

/** Every flag the benchmark passes to `bin/cairn`: adjust the CLI contract here only. */
export const CAIRN_CLI = {
  bin: path.join(checkoutRoot, 'bin', 'cairn'),
  vault: 'bench',
  env: { CAIRN_PASSPHRASE: PASSPHRASE } as Record<string, string>,
  startStorage: (dataDir: string) => ['storage', 'start', '--data', dataDir, '--listen', '127.0.0.1:0'],
  connection: (url: string, dataDir: string) => [
    '--storage',
    url,
    '--ca',
    path.join(dataDir, 'tls', 'cert.pem'),
    '--access-key-file',
    path.join(dataDir, 'access-key'),
    '--vault',
    CAIRN_CLI.vault,
  ],
  init: (conn: string[]) => ['direct', 'init', ...conn],
  backup: (conn: string[], source: string) => ['direct', 'backup', ...conn, '--json', source],
  restore: (conn: string[], snapshot: string, target: string) => [
    'direct',
    'restore',
    ...conn,
    snapshot,
    '--to',
    target,
    '--json',
  ],
  /** The snapshot id from `direct backup --json` output. */
  snapshotFrom: (stdout: string): string => {
    const id = (parseJsonOutput(stdout) as { snapshot?: unknown } | undefined)?.snapshot;
    if (typeof id !== 'string')
      throw new Error(`cairn backup printed no snapshot id: ${stdout.slice(0, 200)}`);
    return id;
  },
  /** What "new bytes stored" measures: the storage server's whole data directory. */
  storedDir: (dataDir: string) => dataDir,
  urlTimeoutMs: 30_000,
};

/** Starts `cairn storage start` and resolves with its URL, the first line it prints. */
function startStorageServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CAIRN_CLI.bin, CAIRN_CLI.startStorage(dataDir), {
      env: { ...process.env, ...CAIRN_CLI.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`cairn storage start: ${why} ${failureLine(err)}`.trim()));
    };
    const timer = setTimeout(
      () => fail(`printed no URL within ${CAIRN_CLI.urlTimeoutMs / 1000} s`),
      CAIRN_CLI.urlTimeoutMs,
    );
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err = (err + s).slice(-4096);
    });
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (out.includes('\n')) return; // already started; keep draining so the server never blocks
      out += s;
      const line = out.split('\n')[0]?.trim();
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve({ child, url: line });
      }
    });
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code) => {
      if (!out.includes('\n')) fail(`exited ${code} before printing its URL`);
    });
  });
}

/** Peak resident memory of a live process in KiB (Linux VmHWM), or null once it is gone. */
function peakRssOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // the process has exited: nothing to read
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export const cairn: BenchTool = {
  name: 'cairn',
  requires: null,
  version: async () => `cairn (checkout ${checkoutRoot}), ${process.version}`,
  async open(workDir) {
    const dataDir = path.join(workDir, 'cairn-storage');
    fs.mkdirSync(dataDir, { recursive: true });
    const { child, url } = await startStorageServer(dataDir);
    let serverPeakRssKiB: number | null = null;
    const stop = async () => {
      serverPeakRssKiB = peakRssOf(child.pid) ?? serverPeakRssKiB;
      await stopProcess(child);
    };
    try {
      const conn = CAIRN_CLI.connection(url, dataDir);
      await runChecked({ argv: [CAIRN_CLI.bin, ...CAIRN_CLI.init(conn)], env: CAIRN_CLI.env });
      let snapshot: string | null = null;
      return {
        storedDir: CAIRN_CLI.storedDir(dataDir),
        backup: (source) => ({
          argv: [CAIRN_CLI.bin, ...CAIRN_CLI.backup(conn, source)],
          env: CAIRN_CLI.env,
        }),
        afterBackup: (stdout) => {
          snapshot = CAIRN_CLI.snapshotFrom(stdout);
        },
        restore: (target) => {
          if (!snapshot) throw new Error('cairn restore before any backup');
          return { argv: [CAIRN_CLI.bin, ...CAIRN_CLI.restore(conn, snapshot, target)], env: CAIRN_CLI.env };
        },
        facts: () => ({ storageServerPeakRssKiB: peakRssOf(child.pid) ?? serverPeakRssKiB }),
        stop,
      };
    } catch (e) {
      await stop();
      throw e;
    }
  },
};

export const ALL_TOOLS: BenchTool[] = [cairn, restic, borg, borgLz4];

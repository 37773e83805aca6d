// The backup tools the benchmark compares, each as a small adapter: how to make a fresh
// repository, the backup and restore commands (timed as whole processes by the harness), and
// which directory holds what the tool stored. restic and borg are here; Cairn's adapters are
// cairn-system.ts (the three processes and the CLI) and cairn-direct.ts (the data path alone).
import path from 'node:path';
import { cairnDirect } from './cairn-direct.ts';
import { cairn } from './cairn-system.ts';
import { type Cmd, runChecked } from './measure.ts';

const PASSPHRASE = 'cairn-bench-passphrase';

/** One fresh repository of one tool for one benchmark run. */
export interface ToolSession {
  /** What the "new bytes stored" delta measures with du. */
  storedDir: string;
  /** A promise when the tool must prepare untimed work first (Cairn creates its job). */
  backup(source: string, number: number): Cmd | Promise<Cmd>;
  /** Sees each successful backup's stdout (Cairn takes the snapshot id from it). */
  afterBackup?(stdout: string): void;
  restore(target: string): Cmd;
  /**
   * Long-running processes of the tool, by name, whose peak RSS the harness samples per phase
   * (Cairn's agent, storage server, backup server).
   */
  daemonPids?(): Record<string, number | undefined>;
  /**
   * The daemon that does the client's work (Cairn's agent): its per-phase peak RSS stands in
   * the "client" column instead of the short CLI process that only asked for the run.
   */
  clientDaemon?: string;
  /** Extra facts for the results. */
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

export const ALL_TOOLS: BenchTool[] = [cairn, cairnDirect, restic, borg, borgLz4];

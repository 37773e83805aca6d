// The benchmark's older Cairn adapter, kept as tool `cairn-direct` for comparison: the data path
// alone, with no backup server and no agent daemon. A standalone storage server
// (`storage start` without --server) and `bin/cairn direct init|backup|restore` against it, each
// phase one CLI process doing the agent's work. Every flag it passes is in CAIRN_DIRECT.
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, stopDaemon } from './daemon.ts';
import { parseJsonOutput, runChecked } from './measure.ts';
import type { BenchTool } from './tools.ts';

const checkoutRoot = path.resolve(import.meta.dirname, '..');

export const CAIRN_DIRECT = {
  bin: path.join(checkoutRoot, 'bin', 'cairn'),
  vault: 'bench',
  env: { CAIRN_PASSPHRASE: 'cairn-bench-passphrase', CAIRN_TOKEN: '' } as Record<string, string>,
  startStorage: (dataDir: string) => ['storage', 'start', '--data', dataDir, '--listen', '127.0.0.1:0'],
  connection: (url: string, dataDir: string) => [
    '--storage',
    url,
    '--ca',
    path.join(dataDir, 'tls', 'cert.pem'),
    '--access-key-file',
    path.join(dataDir, 'access-key'),
    '--vault',
    CAIRN_DIRECT.vault,
  ],
  init: (conn: string[]) => ['direct', 'init', ...conn],
  backup: (conn: string[], source: string) => ['direct', 'backup', ...conn, '--json', source],
  restore: (conn: string[], snapshot: string, target: string) => ['direct', 'restore', ...conn, snapshot, '--to', target, '--json'],
  /** The snapshot id from `direct backup --json` output. */
  snapshotFrom: (stdout: string): string => {
    const id = (parseJsonOutput(stdout) as { snapshot?: unknown } | undefined)?.snapshot;
    if (typeof id !== 'string') throw new Error(`cairn direct backup printed no snapshot id: ${stdout.slice(0, 200)}`);
    return id;
  },
};

export const cairnDirect: BenchTool = {
  name: 'cairn-direct',
  requires: null,
  version: async () => `cairn (checkout ${checkoutRoot}), ${process.version}: \`cairn direct\` against a standalone storage server`,
  async open(workDir) {
    const dataDir = path.join(workDir, 'cairn-storage');
    fs.mkdirSync(dataDir, { recursive: true });
    const storage = await startDaemon([CAIRN_DIRECT.bin, ...CAIRN_DIRECT.startStorage(dataDir)], CAIRN_DIRECT.env);
    const stop = () => stopDaemon(storage.child);
    try {
      const conn = CAIRN_DIRECT.connection(storage.firstLine, dataDir);
      await runChecked({ argv: [CAIRN_DIRECT.bin, ...CAIRN_DIRECT.init(conn)], env: CAIRN_DIRECT.env });
      let snapshot: string | null = null;
      return {
        storedDir: dataDir,
        backup: (source) => ({ argv: [CAIRN_DIRECT.bin, ...CAIRN_DIRECT.backup(conn, source)], env: CAIRN_DIRECT.env }),
        afterBackup: (stdout) => {
          snapshot = CAIRN_DIRECT.snapshotFrom(stdout);
        },
        restore: (target) => {
          if (!snapshot) throw new Error('cairn direct restore before any backup');
          return { argv: [CAIRN_DIRECT.bin, ...CAIRN_DIRECT.restore(conn, snapshot, target)], env: CAIRN_DIRECT.env };
        },
        // the CLI process is the client here (GNU time measures it); the storage server is sampled too
        daemonPids: () => ({ storage: storage.child.pid }),
        stop,
      };
    } catch (e) {
      await stop();
      throw e;
    }
  },
};

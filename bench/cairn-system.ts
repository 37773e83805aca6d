// The benchmark's Cairn adapter: the three real processes and the console CLI, as a user runs
// them. open() makes a backup server (`server init` + `server start`), a storage server and an
// agent enrolled with one-time tokens, and a CLI logged in with its own CAIRN_CONFIG; the first
// backup creates the job for the source the harness backs up. Each timed phase is one CLI
// command: `job run bench --level incremental --wait --json` (the first runs as full) and
// `restore SNAPSHOT --to TARGET --wait --json` (files land at TARGET + the source's absolute
// path, as restic's do). Every flag passed to `bin/cairn` is in CAIRN_SYSTEM, in one place.
import fs from 'node:fs';
import path from 'node:path';
import { type Daemon, startDaemon, stopDaemon } from './daemon.ts';
import { type Cmd, parseJsonOutput, runChecked } from './measure.ts';
import type { BenchTool, ToolSession } from './tools.ts';

const checkoutRoot = path.resolve(import.meta.dirname, '..');

export const CAIRN_SYSTEM = {
  bin: path.join(checkoutRoot, 'bin', 'cairn'),
  admin: 'admin',
  adminPassword: 'cairn-bench-admin-password',
  /** The vault's passphrase: given to `job create` so it makes the vault without a prompt. */
  passphrase: 'cairn-bench-passphrase',
  job: 'bench',
  agent: 'bench-agent',
  storage: 'bench-storage',
  serverInit: (dir: string) => ['server', 'init', '--data', dir],
  serverStart: (dir: string) => ['server', 'start', '--data', dir, '--listen', '127.0.0.1:0'],
  login: (url: string, caFile: string) => ['login', url, '--user', CAIRN_SYSTEM.admin, '--ca', caFile],
  tokenCreate: (kind: 'agent' | 'storage') => ['token', 'create', '--kind', kind, '--json'],
  storageStart: (dir: string, url: string, token: string) => [
    'storage', 'start', '--data', dir, '--listen', '127.0.0.1:0', '--server', url, '--token', token, '--name', CAIRN_SYSTEM.storage,
  ],
  agentStart: (dir: string, url: string, token: string) => [
    'agent', 'start', '--data', dir, '--server', url, '--token', token, '--name', CAIRN_SYSTEM.agent,
  ],
  partList: (kind: 'agent' | 'storage') => [kind, 'list', '--json'],
  jobCreate: (source: string) => [
    'job', 'create', CAIRN_SYSTEM.job, '--agent', CAIRN_SYSTEM.agent, '--storage', CAIRN_SYSTEM.storage, '--path', source, '--json',
  ],
  /** Incremental: the first run of a job runs as full, later ones read only what changed. */
  jobRun: () => ['job', 'run', CAIRN_SYSTEM.job, '--level', 'incremental', '--wait', '--json'],
  restore: (snapshot: string, target: string) => ['restore', snapshot, '--to', target, '--wait', '--json'],
  /** The new snapshot's id from `job run --wait --json` (a run object, SPEC "What the commands print"). */
  snapshotFrom: (stdout: string): string => {
    const run = parseJsonOutput(stdout) as { snapshot?: unknown; status?: unknown } | undefined;
    if (run?.status !== 'succeeded' || typeof run.snapshot !== 'string')
      throw new Error(`cairn job run printed no succeeded run with a snapshot: ${stdout.slice(0, 300)}`);
    return run.snapshot;
  },
  onlineTimeoutMs: 30_000,
};

/** Polls `agent list` / `storage list` until the part is online (enrolled is not yet connected). */
async function waitOnline(cli: (args: string[]) => Promise<string>, kind: 'agent' | 'storage', name: string): Promise<void> {
  const deadline = Date.now() + CAIRN_SYSTEM.onlineTimeoutMs;
  for (;;) {
    const parts = JSON.parse(await cli(CAIRN_SYSTEM.partList(kind))) as { name: string; status: string }[];
    if (parts.find((p) => p.name === name)?.status === 'online') return;
    if (Date.now() > deadline) throw new Error(`${kind} ${name} did not come online within ${CAIRN_SYSTEM.onlineTimeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const cairn: BenchTool = {
  name: 'cairn',
  requires: null,
  version: async () =>
    `cairn (checkout ${checkoutRoot}), ${process.version}: backup server + storage server + agent as processes on 127.0.0.1, driven by the CLI`,
  async open(workDir) {
    const dirs = {
      server: path.join(workDir, 'cairn-server'),
      storage: path.join(workDir, 'cairn-storage'),
      agent: path.join(workDir, 'cairn-agent'),
    };
    // The CLI's own login file, and never a part's token from the caller's environment.
    const cliEnv = { CAIRN_CONFIG: path.join(workDir, 'cairn-cli.json'), CAIRN_TOKEN: '', CAIRN_PASSWORD: '', CAIRN_PASSPHRASE: '' };
    const daemonEnv = { CAIRN_TOKEN: '', CAIRN_PASSWORD: '', CAIRN_PASSPHRASE: '' };
    const cmd = (args: string[], extra: Record<string, string> = {}): Cmd => ({
      argv: [CAIRN_SYSTEM.bin, ...args],
      env: { ...cliEnv, ...extra },
    });
    const cli = async (args: string[], extra: Record<string, string> = {}) => (await runChecked(cmd(args, extra))).stdout;
    const daemons: Partial<Record<'server' | 'storage' | 'agent', Daemon>> = {};
    const stop = async () => {
      // the agent first, so no run is left reading while its storage server goes away
      for (const name of ['agent', 'storage', 'server'] as const) {
        const d = daemons[name];
        if (d) await stopDaemon(d.child);
      }
    };
    try {
      fs.mkdirSync(workDir, { recursive: true });
      await cli(CAIRN_SYSTEM.serverInit(dirs.server), { CAIRN_PASSWORD: CAIRN_SYSTEM.adminPassword });
      daemons.server = await startDaemon([CAIRN_SYSTEM.bin, ...CAIRN_SYSTEM.serverStart(dirs.server)], daemonEnv);
      const url = daemons.server.firstLine;
      await cli(CAIRN_SYSTEM.login(url, path.join(dirs.server, 'ca.pem')), { CAIRN_PASSWORD: CAIRN_SYSTEM.adminPassword });
      const token = async (kind: 'agent' | 'storage') =>
        (JSON.parse(await cli(CAIRN_SYSTEM.tokenCreate(kind))) as { token: string }).token;
      daemons.storage = await startDaemon(
        [CAIRN_SYSTEM.bin, ...CAIRN_SYSTEM.storageStart(dirs.storage, url, await token('storage'))],
        daemonEnv,
      );
      daemons.agent = await startDaemon([CAIRN_SYSTEM.bin, ...CAIRN_SYSTEM.agentStart(dirs.agent, url, await token('agent'))], daemonEnv);
      await waitOnline(cli, 'storage', CAIRN_SYSTEM.storage);
      await waitOnline(cli, 'agent', CAIRN_SYSTEM.agent);
    } catch (e) {
      await stop();
      throw e;
    }
    let jobSource: string | null = null;
    let snapshot: string | null = null;
    const session: ToolSession = {
      storedDir: dirs.storage,
      // The job names its path, so it is made (untimed) when the harness first says what to back up.
      backup: async (source) => {
        if (jobSource === null) {
          await cli(CAIRN_SYSTEM.jobCreate(source), { CAIRN_PASSPHRASE: CAIRN_SYSTEM.passphrase });
          jobSource = source;
        } else if (jobSource !== source) {
          throw new Error(`cairn's job backs up ${jobSource}; the harness asked for ${source}`);
        }
        return cmd(CAIRN_SYSTEM.jobRun());
      },
      afterBackup: (stdout) => {
        snapshot = CAIRN_SYSTEM.snapshotFrom(stdout);
      },
      restore: (target) => {
        if (!snapshot) throw new Error('cairn restore before any backup');
        return cmd(CAIRN_SYSTEM.restore(snapshot, target));
      },
      daemonPids: () => ({ agent: daemons.agent?.child.pid, storage: daemons.storage?.child.pid, server: daemons.server?.child.pid }),
      clientDaemon: 'agent',
      stop,
    };
    return session;
  },
};

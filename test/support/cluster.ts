// A whole Cairn system as real processes on 127.0.0.1 for integration tests: a backup server
// (`server init` + `server start`), storage servers and agents enrolled with one-time tokens,
// and a logged-in CLI (its own config file), each part restartable and killable.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliResult, runCairn } from './cli.ts';
import { CAIRN_BIN } from './storage-process.ts';

export type Daemon = {
  name: string;
  dataDir: string;
  process: ChildProcess;
  /** first stdout line */
  firstLine: string;
  /** everything it wrote to stdout so far */
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM (or the signal given) and wait for the exit */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
};

const tempDirs: string[] = [];
process.once('exit', () => {
  if (process.env.CAIRN_KEEP_TEST_DIRS) return;
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Spawns `bin/cairn ARGS` and resolves once it printed its first stdout line. */
export async function startDaemon(name: string, dataDir: string, args: string[], env: Record<string, string> = {}): Promise<Daemon> {
  const child = spawn(CAIRN_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAIRN_TOKEN: '', ...env } });
  let stderr = '';
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const firstLine = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} did not start in time; stderr: ${stderr}`)), 60_000);
    const poll = setInterval(() => {
      const nl = stdout.indexOf('\n');
      if (nl < 0) return;
      clearInterval(poll);
      clearTimeout(timer);
      res(stdout.slice(0, nl));
    }, 20);
    void exited.then(() => clearInterval(poll));
    void exited.then(() => {
      clearTimeout(timer);
      rej(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it started; stderr: ${stderr.trim()}`));
    });
  });
  return {
    name,
    dataDir,
    process: child,
    firstLine,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export type Cluster = {
  url: string;
  serverDir: string;
  server: Daemon;
  adminPassword: string;
  /** the CLI as the logged-in admin (its own CAIRN_CONFIG) */
  cli: (args: string[], stdin?: string, env?: Record<string, string>) => Promise<CliResult>;
  /** the CLI's --json answer, parsed; throws with stderr when the command failed */
  json: <T = unknown>(args: string[], stdin?: string) => Promise<T>;
  storages: Map<string, Daemon>;
  agents: Map<string, Daemon>;
  addStorage: (name: string, extraArgs?: string[]) => Promise<Daemon>;
  addAgent: (name: string, extraArgs?: string[]) => Promise<Daemon>;
  /** restart a part from its data folder alone */
  restartStorage: (name: string) => Promise<Daemon>;
  restartAgent: (name: string) => Promise<Daemon>;
  /** stops the server (SIGTERM, or the signal given) and starts it again from its data folder */
  restartServer: (signal?: NodeJS.Signals) => Promise<void>;
  /** waits until `agent list`/`storage list` show the part online */
  waitOnline: (kind: 'agent' | 'storage', name: string) => Promise<void>;
  stop: () => Promise<void>;
};

export type ClusterOptions = {
  storages?: string[];
  agents?: string[];
  /** added to every daemon's environment and to `server init` (e.g. CAIRN_TEST settings) */
  env?: Record<string, string>;
  /** extra `server start` flags (limits) */
  serverArgs?: string[];
};

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const daemonEnv = opts.env ?? {};
  const root = tempDir('cairn-cluster-');
  const serverDir = join(root, 'server');
  const config = join(root, 'cli.json');
  const adminPassword = 'admin-password-for-tests';
  const init = await runCairn(['server', 'init', '--data', serverDir, '--admin-password-stdin'], daemonEnv, `${adminPassword}\n`);
  if (init.code !== 0) throw new Error(`server init failed: ${init.stderr}`);
  const fingerprint = /fingerprint ([0-9a-f]{64})/.exec(init.stdout)?.[1];
  if (!fingerprint) throw new Error(`server init printed no fingerprint: ${init.stdout}`);
  let server = await startDaemon('server', serverDir, ['server', 'start', '--data', serverDir, '--listen', '127.0.0.1:0', ...(opts.serverArgs ?? [])], daemonEnv);
  const url = server.firstLine.trim();
  const env = { CAIRN_CONFIG: config };
  const cli = (args: string[], stdin?: string, extra: Record<string, string> = {}) => runCairn(args, { ...env, ...extra }, stdin);
  const json = async <T>(args: string[], stdin?: string): Promise<T> => {
    const r = await cli([...args, '--json'], stdin);
    if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const login = await cli(['login', url, '--user', 'admin', '--password-stdin', '--fingerprint', fingerprint], `${adminPassword}\n`);
  if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);

  const storages = new Map<string, Daemon>();
  const agents = new Map<string, Daemon>();
  const token = async (kind: 'agent' | 'storage') => (await json<{ token: string }>(['token', 'create', '--kind', kind])).token;
  const waitOnline = async (kind: 'agent' | 'storage', name: string) => {
    for (let i = 0; i < 300; i++) {
      const parts = await json<{ name: string; status: string }[]>([kind, 'list']);
      if (parts.find((p) => p.name === name)?.status === 'online') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${kind} ${name} did not come online`);
  };
  const cluster: Cluster = {
    url,
    serverDir,
    get server() {
      return server;
    },
    adminPassword,
    cli,
    json,
    storages,
    agents,
    addStorage: async (name, extraArgs = []) => {
      const dataDir = join(root, `storage-${name}`);
      const d = await startDaemon(`storage ${name}`, dataDir, [
        'storage', 'start', '--data', dataDir, '--listen', '127.0.0.1:0', '--server', url, '--token', await token('storage'), '--name', name, ...extraArgs,
      ], daemonEnv);
      storages.set(name, d);
      await waitOnline('storage', name);
      return d;
    },
    addAgent: async (name, extraArgs = []) => {
      const dataDir = join(root, `agent-${name}`);
      const d = await startDaemon(`agent ${name}`, dataDir, [
        'agent', 'start', '--data', dataDir, '--server', url, '--token', await token('agent'), '--name', name, ...extraArgs,
      ], daemonEnv);
      agents.set(name, d);
      await waitOnline('agent', name);
      return d;
    },
    restartStorage: async (name) => {
      const old = storages.get(name)!;
      await old.stop();
      const d = await startDaemon(`storage ${name}`, old.dataDir, ['storage', 'start', '--data', old.dataDir], daemonEnv);
      storages.set(name, d);
      return d;
    },
    restartAgent: async (name) => {
      const old = agents.get(name)!;
      await old.stop();
      const d = await startDaemon(`agent ${name}`, old.dataDir, ['agent', 'start', '--data', old.dataDir], daemonEnv);
      agents.set(name, d);
      return d;
    },
    restartServer: async (signal) => {
      await server.stop(signal);
      server = await startDaemon('server', serverDir, ['server', 'start', '--data', serverDir], daemonEnv);
    },
    waitOnline,
    stop: async () => {
      await Promise.all([...agents.values(), ...storages.values()].map((d) => d.stop()));
      await server.stop();
    },
  };
  for (const s of opts.storages ?? []) await cluster.addStorage(s);
  for (const a of opts.agents ?? []) await cluster.addAgent(a);
  return cluster;
}

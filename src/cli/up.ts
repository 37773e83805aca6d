// `cairn up`: the whole system on this machine with embedded defaults. The backup server runs in
// this process (SQLite catalog in DATA/server); one storage server (DATA/storage) and one local
// agent (DATA/agent) run as child processes, enrolled automatically the first time, on loopback.
// The local CLI is logged in as the admin with its one API token named `cairn up`, kept from run to
// run and replaced when revoked or near its end (in DATA/cli.json when the usual file holds a login
// to another server: up-login.ts); the admin password is printed the first
// time only (it is also kept in DATA/server/secrets/admin-password, mode 0600). When a part exits
// on its own, everything stops, naming it. Run again on the same folder, it carries on: nothing is
// re-initialised or re-enrolled.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { CairnError } from '../core/errors.ts';
import { initServer, startServer } from '../server/server-daemon.ts';
import type { Command } from './command.ts';
import { loadLogin, loginConfigPath, saveLogin } from './login-config.ts';
import { formatListen, parseListen } from '../core/listen.ts';
import { METRICS_OPTION, metricsListen } from './metrics-flag.ts';
import { cliInvocation, upLoginFile } from './up-login.ts';

/** Parts start through bin/cairn, so the agent gets the runtime settings it is measured with (memory). */
const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'cairn');
const DEFAULT_LISTEN = '127.0.0.1:7350';

function localAgentName(): string {
  const host = os.hostname().replace(/[^a-zA-Z0-9._-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '').slice(0, 64);
  return host || 'local';
}

function enrolled(dir: string, file: string): boolean {
  try {
    const saved = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { server?: string };
    return typeof saved.server === 'string';
  } catch {
    return false;
  }
}

/**
 * `--metrics-listen HOST:PORT`, checked (exit 2): the address of the part at `offset` (server 0,
 * storage server 1, agent 2), PORT+offset, or port 0 for every part when PORT is 0.
 */
function upMetricsListen(values: Record<string, unknown>): ((offset: number) => string) | undefined {
  const given = metricsListen(values, 'up');
  if (given === undefined) return undefined;
  const { host, port } = parseListen(given, 'metrics-listen');
  if (port !== 0 && port + 2 > 65535) throw new CairnError('E_USAGE', `up: --metrics-listen: PORT+2 must be a port too, got ${port}`);
  return (offset) => formatListen(host, port === 0 ? 0 : port + offset);
}

/** Starts a part as a child process; resolves with it once its first stdout line arrived. */
function startPart(label: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, CAIRN_NODE: process.execPath } });
  const prefix = (line: string) => `[${label}] ${line}\n`;
  readline.createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(prefix(line)));
  return new Promise((resolve, reject) => {
    let first = true;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      process.stderr.write(prefix(line));
      if (first) {
        first = false;
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      if (first) reject(new CairnError('E_UNAVAILABLE', `the ${label} exited with status ${code} before it started (see its lines above)`));
    });
  });
}

export const upCommand: Command = {
  name: 'up',
  summary: 'run the server, a storage server and a local agent on this machine',
  usage: '[--data DIR] [--listen HOST:PORT] [--metrics-listen HOST:PORT]',
  example: 'up --data /srv/cairn',
  help: {
    data: 'the data folder (default ~/.local/share/cairn)',
    listen: "the backup server's address (default the saved one, else 127.0.0.1:7350)",
    'metrics-listen': 'serve GET /metrics: the server at PORT, the storage server at PORT+1, the agent at PORT+2 (port 0: each any free one); not saved',
  },
  options: { data: { type: 'string' }, listen: { type: 'string' }, ...METRICS_OPTION },
  async run({ values }) {
    const metrics = upMetricsListen(values);
    const data = path.resolve((values.data as string | undefined) ?? path.join(os.homedir(), '.local/share/cairn'));
    const serverDir = path.join(data, 'server');
    const storageDir = path.join(data, 'storage');
    const agentDir = path.join(data, 'agent');
    let adminPassword: string | undefined;
    if (!existsSync(path.join(serverDir, 'ca.pem'))) {
      const init = await initServer({ dataDir: serverDir });
      adminPassword = init.adminPassword;
    }
    const server = await startServer({
      dataDir: serverDir,
      listen: (values.listen as string | undefined) ?? (existsSync(path.join(serverDir, 'server.json')) ? undefined : DEFAULT_LISTEN),
      log: (line) => process.stderr.write(`[server] ${line}\n`),
      metricsListen: metrics?.(0),
    }).catch(async (e: unknown) => {
      // a folder initialised earlier without a listen address: the default then
      if (e instanceof CairnError && e.code === 'E_USAGE' && values.listen === undefined)
        return startServer({ dataDir: serverDir, listen: DEFAULT_LISTEN, log: (line) => process.stderr.write(`[server] ${line}\n`), metricsListen: metrics?.(0) });
      throw e;
    });
    const children: { label: string; child: ChildProcess }[] = [];
    const stopAll = async () => {
      for (const { child } of children) child.kill('SIGTERM');
      await Promise.all(children.map(({ child: c }) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
      await server.stop();
    };
    let login: { file: string; separate: boolean } | undefined;
    try {
      // tokens go through the environment, not argv, where `ps` would show them
      const storageArgs = ['storage', 'start', '--data', storageDir, ...(metrics ? ['--metrics-listen', metrics(1)] : [])];
      let storageToken = '';
      if (!enrolled(storageDir, 'storage.json')) {
        storageArgs.push('--listen', '127.0.0.1:0', '--server', server.url, '--name', 'local');
        storageToken = await server.local.partToken('storage', 'admin');
      }
      children.push({ label: 'storage server', child: await startPart('storage', storageArgs, { ...process.env, CAIRN_TOKEN: storageToken }) });
      // the all-in-one storage server collects its garbage weekly (Sunday 04:30) unless told otherwise
      if (storageToken) await server.local.storageGcSchedule('local', '30 4 * * 0');
      const agentArgs = ['agent', 'start', '--data', agentDir, ...(metrics ? ['--metrics-listen', metrics(2)] : [])];
      let agentToken = '';
      if (!enrolled(agentDir, 'agent.json')) {
        agentArgs.push('--server', server.url, '--name', localAgentName());
        agentToken = await server.local.partToken('agent', 'admin');
      }
      children.push({ label: 'agent', child: await startPart('agent', agentArgs, { ...process.env, CAIRN_TOKEN: agentToken }) });
      login = await upLoginFile({ server: server.url, ca: server.caPem }, data);
      // one `cairn up` token, kept from run to run; replaced when revoked or under 30 days from its end
      const saved = await loadLogin(login.file).catch(() => undefined);
      const current = saved?.server === server.url && saved.ca === server.caPem ? saved.token : undefined;
      await saveLogin({ server: server.url, ca: server.caPem, token: await server.local.apiToken('admin', current), user: 'admin' }, login.file);
    } catch (e) {
      await stopAll();
      throw e;
    }
    const agentName = enrolled(agentDir, 'agent.json') ? (JSON.parse(readFileSync(path.join(agentDir, 'agent.json'), 'utf8')) as { name: string }).name : localAgentName();
    const lines = [
      server.url, // first line: the address (as every daemon prints it), for scripts
      `Cairn is up (data in ${data})`,
      `  web console:  ${server.url}/`,
      `  CA fingerprint: ${server.caFingerprint}`,
      `  in a browser, trust ${path.join(serverDir, 'ca.pem')} as a certificate authority (check the fingerprint above)`,
      `  storage server: local   agent: ${agentName}`,
      `  the cairn CLI is logged in as admin (${login!.file})`,
    ];
    if (server.metricsUrl) {
      const other = (offset: number) => {
        const url = new URL(server.metricsUrl!);
        url.port = String(Number(url.port) + offset);
        return url.href;
      };
      lines.push(
        metrics?.(1).endsWith(':0')
          ? `  metrics: ${server.metricsUrl} (server; the storage server's and the agent's are in their "metrics listening" lines on stderr)`
          : `  metrics: ${server.metricsUrl} (server), ${other(1)} (storage server), ${other(2)} (agent)`,
      );
    }
    if (login!.separate) lines.push(`  ${loginConfigPath()} logs in to another server and was left alone; to use this one:`, `  export CAIRN_CONFIG=${login!.file}`);
    if (adminPassword) lines.push(`  admin password: ${adminPassword}   (shown once; kept in ${path.join(serverDir, 'secrets/admin-password')})`);
    const cairn = cliInvocation();
    lines.push('try:', `  ${cairn} job create home --agent ${agentName} --storage local --path ${os.homedir()}`, `  ${cairn} job run home --wait`, `  ${cairn} snapshot list`);
    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (status: number) => {
        if (stopping) return;
        stopping = true;
        void stopAll().then(() => resolve(status));
      };
      process.once('SIGINT', () => stop(0));
      process.once('SIGTERM', () => stop(0));
      // only now: a starter that signals as soon as it reads the first line finds the handlers in place
      process.stdout.write(`${lines.join('\n')}\n`);
      for (const { label, child } of children)
        child.once('exit', (code, signal) => {
          if (!stopping) process.stderr.write(`cairn up: the ${label} exited (${code === null ? `killed by ${signal}` : `status ${code}`}); stopping everything\n`);
          stop(1);
        });
    });
  },
};

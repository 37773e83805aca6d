// `npm run load`: one backup server under 1,000 parts heartbeating over real mutual-TLS control
// connections for 60 s (not part of `npm test`). The server runs as its own process (`cairn
// server start`); the parts are enrolled through the API (one-time tokens, real CSRs) and held
// as light in-process control clients (protocol/control-client.ts), a few hundred in each of a
// few child processes. Meanwhile `GET /api/agents` and `GET /api/runs` are timed back to back;
// the catalog file plus its WAL is measured before and after the heartbeat window.
// Required: p99 of both ≤ 250 ms, growth ≤ 5 MB. Prints the figures; exit 1 when a bound fails.
//   npm run load -- [--parts 1000] [--seconds 60] [--workers 4]
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateAgentKeyPair } from '../src/core/agent-keys.ts';
import { ControlClient } from '../src/protocol/control-client.ts';
import { enrollPart } from '../src/protocol/enroll-client.ts';
import { startDaemon, stopDaemon } from './daemon.ts';

const CAIRN = resolve(import.meta.dirname, '../bin/cairn');
const P99_BOUND_MS = 250;
const GROWTH_BOUND = 5 * 1000 * 1000;

type Identity = { kind: 'agent' | 'storage'; name: string; keyPem: string; certPem: string };
type Login = { server: string; ca: string; token: string };

// ---- a worker: holds its share of the parts' control links until it is told to stop
async function worker(file: string): Promise<void> {
  const { server, caPem, parts } = JSON.parse(readFileSync(file, 'utf8')) as { server: string; caPem: string; parts: Identity[] };
  const up = new Set<string>();
  const clients = parts.map(
    (p) =>
      new ControlClient({
        server,
        caPem,
        identity: { keyPem: p.keyPem, certPem: p.certPem },
        self: { kind: p.kind, name: p.name },
        hello: () => ({ version: 'load', address: p.kind === 'storage' ? `https://127.0.0.1:1/${p.name}` : p.name }),
        handlers: {},
        onState: (state) => {
          if (state === 'online') up.add(p.name);
          else up.delete(p.name);
        },
      }),
  );
  for (const c of clients) {
    c.start();
    await sleep(2); // a gentle ramp: 2 cores also serve the TLS handshakes
  }
  const report = setInterval(() => process.stdout.write(`online ${up.size}\n`), 1000);
  process.once('SIGTERM', () => {
    clearInterval(report);
    void Promise.all(clients.map((c) => c.close())).then(() => process.exit(0));
  });
}

// ---- the driver
function run(file: string, args: string[], env: Record<string, string>, stdin?: string): Promise<string> {
  return new Promise((res, rej) => {
    const child = execFile(file, args, { env: { ...process.env, ...env } }, (e, stdout, stderr) => (e ? rej(new Error(`${args.slice(0, 2).join(' ')}: ${stderr}`)) : res(stdout)));
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

function call(login: Login, agent: Agent, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = request(
      new URL(path, login.server),
      {
        method,
        agent,
        ca: login.ca,
        checkServerIdentity: () => undefined,
        headers: { authorization: `Bearer ${login.token}`, ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}) },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => res({ status: r.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
      },
    );
    req.on('error', rej);
    req.end(text);
  });
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
}

function catalogBytes(dir: string): number {
  const size = (f: string) => {
    try {
      return statSync(join(dir, f)).size;
    } catch {
      return 0;
    }
  };
  return size('catalog.db') + size('catalog.db-wal');
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { parts: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '60' }, workers: { type: 'string', default: '4' }, worker: { type: 'string' } } });
  if (values.worker) {
    await worker(values.worker);
    return -1; // keeps running until SIGTERM
  }
  const total = Number(values.parts);
  const seconds = Number(values.seconds);
  const workers = Number(values.workers);
  const storages = Math.round(total / 10);
  const root = mkdtempSync(join(tmpdir(), 'cairn-load-'));
  const dataDir = join(root, 'server');
  const env = { CAIRN_CONFIG: join(root, 'cli.json') };
  const children: ChildProcess[] = [];
  let server: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const init = await run(CAIRN, ['server', 'init', '--data', dataDir, '--admin-password-stdin'], env, 'load-password\n');
    const fingerprint = /fingerprint ([0-9a-f]{64})/.exec(init)![1]!;
    server = await startDaemon([CAIRN, 'server', 'start', '--data', dataDir, '--listen', '127.0.0.1:0'], {});
    const url = server.firstLine;
    await run(CAIRN, ['login', url, '--user', 'admin', '--password-stdin', '--fingerprint', fingerprint], env, 'load-password\n');
    const login = JSON.parse(readFileSync(env.CAIRN_CONFIG, 'utf8')) as Login;
    const api = new Agent({ keepAlive: true, maxSockets: 8 });

    // enrollment: a token each through the API, then the part's own CSR (one key-wrapping key shared by the agents)
    let t = performance.now();
    const agentKey = generateAgentKeyPair().publicKeyPem;
    const names = Array.from({ length: total }, (_, i): { kind: 'agent' | 'storage'; name: string } => (i < storages ? { kind: 'storage', name: `ls${i}` } : { kind: 'agent', name: `la${i}` }));
    const identities: Identity[] = [];
    await pool(names, 8, async (p) => {
      const token = (await call(login, api, 'POST', '/api/tokens', { kind: p.kind })).json as { token: string };
      const e = await enrollPart({ token: token.token, kind: p.kind, name: p.name, version: 'load', ...(p.kind === 'agent' ? { publicKeyPem: agentKey } : {}) });
      identities.push({ ...p, keyPem: e.keyPem, certPem: e.certPem });
    });
    const enrollS = (performance.now() - t) / 1000;
    const beforeConnect = catalogBytes(dataDir);

    // the links: `workers` child processes, each with its share
    t = performance.now();
    const online = new Map<number, number>();
    for (let w = 0; w < workers; w++) {
      const file = join(root, `worker-${w}.json`);
      writeFileSync(file, JSON.stringify({ server: url, caPem: login.ca, parts: identities.filter((_, i) => i % workers === w) }));
      const child = spawn(process.execPath, [import.meta.filename, '--worker', file], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        const m = /online (\d+)\n$/.exec(s);
        if (m) online.set(w, Number(m[1]));
      });
      children.push(child);
    }
    const count = () => [...online.values()].reduce((n, v) => n + v, 0);
    for (let i = 0; count() < total; i++) {
      if (i > 600) throw new Error(`only ${count()} of ${total} parts came online in 5 min`);
      await sleep(500);
    }
    const connectS = (performance.now() - t) / 1000;
    const status = (await call(login, api, 'GET', '/api/net/status')).json as { status: string }[];
    const serverOnline = status.filter((p) => p.status === 'online').length;

    // the heartbeat window, with the reads timed back to back
    const startBytes = catalogBytes(dataDir);
    const times: Record<string, number[]> = { '/api/agents': [], '/api/runs': [] };
    const end = performance.now() + seconds * 1000;
    let agentsListed = 0;
    while (performance.now() < end) {
      for (const path of Object.keys(times)) {
        const at = performance.now();
        const answer = await call(login, api, 'GET', path);
        times[path]!.push(performance.now() - at);
        if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status}`);
        if (path === '/api/agents') agentsListed = (answer.json as unknown[]).length;
      }
      await sleep(50);
    }
    const growth = catalogBytes(dataDir) - startBytes;
    const stillOnline = ((await call(login, api, 'GET', '/api/net/status')).json as { status: string }[]).filter((p) => p.status === 'online').length;
    api.destroy();

    const lines = [
      `parts: ${total} (${total - storages} agents, ${storages} storage servers) over mutual-TLS control links in ${workers} processes`,
      `enrolled in ${enrollS.toFixed(1)} s; all online in ${connectS.toFixed(1)} s (server saw ${serverOnline} online; ${stillOnline} at the end)`,
      ...Object.entries(times).map(([path, v]) => `GET ${path}: ${v.length} requests, p50 ${percentile(v, 0.5).toFixed(1)} ms, p99 ${percentile(v, 0.99).toFixed(1)} ms, max ${Math.max(...v).toFixed(1)} ms${path === '/api/agents' ? ` (${agentsListed} agents each)` : ''}`),
      `catalog + WAL during the ${seconds} s of heartbeats: ${mb(startBytes)} MB → ${mb(startBytes + growth)} MB, growth ${mb(growth)} MB (the ${total} online transitions before it: ${mb(startBytes - beforeConnect)} MB)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const failures = [
      ...Object.entries(times).filter(([, v]) => percentile(v, 0.99) > P99_BOUND_MS).map(([path]) => `p99 of GET ${path} over ${P99_BOUND_MS} ms`),
      ...(growth > GROWTH_BOUND ? [`catalog grew by more than ${mb(GROWTH_BOUND)} MB`] : []),
      ...(stillOnline < total ? [`only ${stillOnline} of ${total} parts online at the end`] : []),
    ];
    for (const f of failures) process.stdout.write(`FAIL: ${f}\n`);
    if (failures.length === 0) process.stdout.write('PASS\n');
    return failures.length ? 1 : 0;
  } finally {
    for (const child of children) await stopDaemon(child);
    if (server) await stopDaemon(server.child);
    rmSync(root, { recursive: true, force: true });
  }
}

const code = await main();
if (code >= 0) process.exit(code);

// Raw HTTPS requests to a test cluster's REST API, as a hostile or buggy client would send them:
// any method, path, headers and body bytes, with the logged-in CLI's bearer token (or another,
// or none), trusting the server's CA; an event stream is answered at its headers. Also a snapshot of everything the catalog shows, to prove
// a refused request changed nothing.
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import type { Cluster } from './cluster.ts';

export type RawAnswer = { status: number; text: string; json: unknown; headers: IncomingHttpHeaders };
/** `{error:{code,message}}` of an error answer (both undefined when the body is not one) */
export type ErrorBody = { code: string | undefined; message: string | undefined };

export type RawRequest = {
  method?: string;
  /** a string or bytes are sent as they are; anything else as JSON */
  body?: unknown;
  /** the bearer token: the CLI's by default, null for none */
  token?: string | null;
  headers?: Record<string, string>;
  /** send the body in chunks without a content-length */
  chunked?: boolean;
  /** the source address (any 127/8 address reaches a server on 127.0.0.1) */
  localAddress?: string;
};

export type RawApi = {
  server: string;
  ca: string;
  token: string;
  call: (path: string, r?: RawRequest) => Promise<RawAnswer>;
};

/** The login the cluster's CLI saved (server, CA, token), next to the server's data folder. */
export function rawApi(c: Cluster): RawApi {
  const login = JSON.parse(readFileSync(join(dirname(c.serverDir), 'cli.json'), 'utf8')) as { server: string; ca: string; token: string };
  return { server: login.server, ca: login.ca, token: login.token, call: (path, r = {}) => send(login, path, r) };
}

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

function send(login: { server: string; ca: string; token: string }, path: string, r: RawRequest): Promise<RawAnswer> {
  const bytes = bodyBytes(r.body);
  const headers: Record<string, string> = { ...r.headers };
  const token = r.token === undefined ? login.token : r.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (bytes !== undefined) {
    headers['content-type'] ??= 'application/json';
    if (!r.chunked) headers['content-length'] = String(bytes.length);
  }
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, login.server),
      {
        method: r.method ?? (bytes === undefined ? 'GET' : 'POST'),
        headers,
        ca: login.ca,
        checkServerIdentity: () => undefined,
        agent: false,
        localAddress: r.localAddress,
      },
      (res) => {
        // an event stream never ends by itself: it is answered at its headers, then closed
        if (String(res.headers['content-type']).startsWith('text/event-stream')) {
          resolve({ status: res.statusCode ?? 0, text: '', json: undefined, headers: res.headers });
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
        });
      },
    );
    // the server may answer (413) and close before an oversized body is all sent: the answer counts
    req.on('error', reject);
    if (bytes === undefined) req.end();
    else if (!r.chunked) req.end(bytes);
    else {
      for (let at = 0; at < bytes.length; at += 64 * 1024) req.write(bytes.subarray(at, at + 64 * 1024));
      req.end();
    }
  });
}

export function errorOf(a: RawAnswer): ErrorBody {
  const e = (a.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return { code: typeof e?.code === 'string' ? e.code : undefined, message: typeof e?.message === 'string' ? e.message : undefined };
}

type Part = { name: string; status: string; version: string | null; address: string | null };

/**
 * Everything `job list`, `run list`, `snapshot list`, `vault list`, `agent list`, `storage list`
 * and `user list` show (the same objects their --json prints), without what changes by itself
 * (last seen, round-trip time).
 */
export async function catalogState(api: RawApi): Promise<Record<string, unknown>> {
  const get = async (path: string) => {
    const a = await api.call(path);
    if (a.status !== 200) throw new Error(`GET ${path}: ${a.status} ${a.text}`);
    return a.json;
  };
  const parts = async (path: string) => ((await get(path)) as Part[]).map((p) => ({ name: p.name, status: p.status, version: p.version, address: p.address }));
  return {
    jobs: await get('/api/jobs'),
    runs: await get('/api/runs'),
    snapshots: await get('/api/snapshots'),
    // a vault's use figures are the storage server's reports, which arrive on their own clock
    vaults: ((await get('/api/vaults')) as Record<string, unknown>[]).map(({ bytesStored: _s, bytesLogical: _l, dedupRatio: _d, ...v }) => v),
    agents: await parts('/api/agents'),
    storages: await parts('/api/storages'),
    users: await get('/api/users'),
  };
}

export type AuditEntry = { time: string; who: string; what: string; result: string };

/** The audit entries written after `since` (entries newest first, as the server lists them). */
export async function auditSince(api: RawApi, since: number): Promise<AuditEntry[]> {
  const all = await auditAll(api);
  return all.slice(0, Math.max(0, all.length - since));
}

/** How many audit entries there are now (pass to auditSince later). */
export async function auditCount(api: RawApi): Promise<number> {
  return (await auditAll(api)).length;
}

async function auditAll(api: RawApi): Promise<AuditEntry[]> {
  const a = await api.call('/api/audit?limit=10000');
  if (a.status !== 200) throw new Error(`GET /api/audit: ${a.status} ${a.text}`);
  return a.json as AuditEntry[];
}

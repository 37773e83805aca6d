// Every REST route the console calls, in one table: the app builds its requests from it, and
// test/web-calls.test.ts checks that each one exists in /api/openapi.json with the same method.
// Plain TypeScript (no DOM, no JSX), so Node's tests import it as it is.
import { api, type Method, withQuery } from './api.ts';

export type Call = { readonly method: Method; readonly path: string };

export const CALLS = {
  login: { method: 'POST', path: '/api/login' },
  logout: { method: 'POST', path: '/api/logout' },
  me: { method: 'GET', path: '/api/me' },
  status: { method: 'GET', path: '/api/status' },
  events: { method: 'GET', path: '/api/events' },
  agents: { method: 'GET', path: '/api/agents' },
  agent: { method: 'GET', path: '/api/agents/:name' },
  storages: { method: 'GET', path: '/api/storages' },
  storage: { method: 'GET', path: '/api/storages/:name' },
  netHistory: { method: 'GET', path: '/api/net/history' },
  netThroughput: { method: 'GET', path: '/api/net/throughput' },
  createToken: { method: 'POST', path: '/api/tokens' },
  vaults: { method: 'GET', path: '/api/vaults' },
  jobs: { method: 'GET', path: '/api/jobs' },
  job: { method: 'GET', path: '/api/jobs/:name' },
  createJob: { method: 'POST', path: '/api/jobs' },
  editJob: { method: 'PATCH', path: '/api/jobs/:name' },
  runJob: { method: 'POST', path: '/api/jobs/:name/runs' },
  estimateJob: { method: 'POST', path: '/api/jobs/:name/estimate' },
  runs: { method: 'GET', path: '/api/runs' },
  run: { method: 'GET', path: '/api/runs/:id' },
  cancelRun: { method: 'POST', path: '/api/runs/:id/cancel' },
  snapshots: { method: 'GET', path: '/api/snapshots' },
  snapshot: { method: 'GET', path: '/api/snapshots/:id' },
  ls: { method: 'GET', path: '/api/snapshots/:id/ls' },
  restore: { method: 'POST', path: '/api/restores' },
  users: { method: 'GET', path: '/api/users' },
  addUser: { method: 'POST', path: '/api/users' },
  setRole: { method: 'PATCH', path: '/api/users/:name' },
  removeUser: { method: 'DELETE', path: '/api/users/:name' },
  tokens: { method: 'GET', path: '/api/tokens' },
  revokeToken: { method: 'DELETE', path: '/api/tokens/:id' },
  audit: { method: 'GET', path: '/api/audit' },
  alerts: { method: 'GET', path: '/api/alerts' },
  addAlert: { method: 'POST', path: '/api/alerts' },
  removeAlert: { method: 'DELETE', path: '/api/alerts/:id' },
  // verify, gc, network monitor, search by name, forget
  verify: { method: 'POST', path: '/api/verifies' },
  gc: { method: 'POST', path: '/api/gc' },
  netStatus: { method: 'GET', path: '/api/net/status' },
  netTest: { method: 'POST', path: '/api/net/test' },
  find: { method: 'GET', path: '/api/jobs/:name/find' },
  forgetSnapshot: { method: 'POST', path: '/api/snapshots/:id/forget' },
  forgetJob: { method: 'POST', path: '/api/jobs/:name/forget' },
} as const satisfies Record<string, Call>;

/** The call's path with its `:name` segments filled in (each encoded) and the query appended. */
export function urlOf(call: Call, params: Record<string, string | number> = {}, query: Record<string, string | number | undefined> = {}): string {
  const path = call.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${call.path}: no value for :${name}`);
    return encodeURIComponent(String(value));
  });
  return withQuery(path, query);
}

/** Makes one call of the table. */
export function call<T>(
  c: Call,
  opts: { params?: Record<string, string | number>; query?: Record<string, string | number | undefined>; body?: unknown; signal?: AbortSignal; onHeaders?: (h: Headers) => void } = {},
): Promise<T> {
  return api<T>(c.method, urlOf(c, opts.params, opts.query), opts.body, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onHeaders ? { onHeaders: opts.onHeaders } : {}) });
}

// Routes of network monitoring and of the one-screen status: `net status`, `net history`, the
// throughput records, `net test`, and `status` (runs, queue, parts, storage, recent failures).
import { CairnError } from '../../core/errors.ts';
import { durationSeconds } from '../../core/durations.ts';
import { now } from '../../core/test-settings.ts';
import type { Schema } from '../../protocol/api-schema.ts';
import type { StatusJson } from '../../protocol/api-types.ts';
import { NETTEST_DEFAULT_BYTES, NETTEST_MAX_BYTES } from '../../protocol/nettest.ts';
import type { Caller } from '../auth/accounts.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { listThroughput, netHistory, netStatus } from '../net-status.ts';
import { netTest } from '../net-test.ts';
import { listParts } from '../parts.ts';
import { listRuns } from '../runs.ts';

const netTestBody: Schema = {
  type: 'object',
  properties: {
    agent: { type: 'string', minLength: 1, maxLength: 64 },
    storage: { type: 'string', minLength: 1, maxLength: 64 },
    bytes: { type: 'integer', minimum: 1, maximum: NETTEST_MAX_BYTES },
  },
  required: ['agent', 'storage'],
};

const DAY_MS = 86_400_000;
const FAILURES_SHOWN = 20;

/** `since` of `net history`: a duration (30s, 15m, 6h, 7d), default 24h. */
function sinceMs(text: string | null): number {
  if (text === null) return DAY_MS;
  const seconds = durationSeconds(text);
  if (seconds === undefined || seconds <= 0) throw new CairnError('E_BAD_REQUEST', `since must be a duration such as 30m, 6h or 7d, not ${JSON.stringify(text.slice(0, 40))}`);
  return seconds * 1000;
}

export async function statusView(ctx: ServerContext, caller: Caller): Promise<StatusJson> {
  const [running, queued, failed] = await Promise.all([
    listRuns(ctx.db, caller, { status: 'running', limit: 1000 }),
    listRuns(ctx.db, caller, { status: 'queued', limit: 1000 }),
    listRuns(ctx.db, caller, { status: 'failed', limit: 200 }),
  ]);
  const from = now() - DAY_MS;
  const failures = failed
    .filter((r) => r.endedAt !== null && Date.parse(r.endedAt) >= from)
    .sort((a, b) => Date.parse(b.endedAt!) - Date.parse(a.endedAt!))
    .slice(0, FAILURES_SHOWN);
  return { running, queued, parts: await netStatus(ctx, caller), storage: await listParts(ctx, 'storage', caller), failures };
}

export function netRoutes(ctx: ServerContext): Route[] {
  return [
    { method: 'GET', path: '/api/net/status', summary: 'every part: status, last heartbeat, RTT now and its p50/p99 over the last hour, since when', access: 'read', handle: async ({ caller }) => netStatus(ctx, caller!) },
    {
      method: 'GET',
      path: '/api/net/history',
      summary: "a part's downsampled network history: per-minute samples within 24 h, hourly ones beyond (30 days kept)",
      access: 'read',
      query: { part: 'agent:NAME or storage:NAME', since: 'how far back, a duration (default 24h)' },
      handle: async ({ query, caller }) => {
        const part = query.get('part');
        if (!part) throw new CairnError('E_BAD_REQUEST', 'part is required: agent:NAME or storage:NAME');
        return netHistory(ctx, caller!, part, sinceMs(query.get('since')));
      },
    },
    {
      method: 'GET',
      path: '/api/net/throughput',
      summary: 'bytes per second each backup, restore and net test moved between an agent and a storage server, newest first',
      access: 'read',
      query: { agent: 'only this agent', storage: 'only this storage server' },
      handle: async ({ query, caller }) => listThroughput(ctx, caller!, { agent: query.get('agent') || undefined, storage: query.get('storage') || undefined }),
    },
    {
      method: 'POST',
      path: '/api/net/test',
      summary: 'the agent uploads `bytes` random bytes (default 64 MiB, at most 1 GiB) to the storage server, which keeps nothing, and times 5 small requests',
      access: 'operate',
      body: netTestBody,
      handle: async ({ body, caller }) => {
        const b = body as { agent: string; storage: string; bytes?: number };
        return netTest(ctx, caller!, { agent: b.agent, storage: b.storage, bytes: b.bytes ?? NETTEST_DEFAULT_BYTES });
      },
    },
    { method: 'GET', path: '/api/status', summary: 'one screen: running and queued runs, parts, storage servers, runs failed in the last 24 h', access: 'read', handle: async ({ caller }) => statusView(ctx, caller!) },
  ];
}

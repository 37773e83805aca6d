// `net test`: the server checks the pair (an agent the caller may operate, a storage server, both
// online), signs a short grant of op `nettest` for it and asks the agent over the control channel
// (protocol/nettest.ts); what the agent measured is answered and kept in net_throughput (kind
// `nettest`, no run). Only operators and admins: it loads the network between two parts.
import { CairnError } from '../core/errors.ts';
import { now } from '../core/test-settings.ts';
import type { NetTestJson } from '../protocol/api-types.ts';
import { signAgentGrant } from './agent-grant.ts';
import { NETTEST_VAULT, type NetTestParams, type NetTestResult } from '../protocol/nettest.ts';
import type { Caller } from './auth/accounts.ts';
import { num, ownedAgentId, partId, type ServerContext } from './context.ts';

/** The largest test at a crawl still ends; past this it is given up. */
const NETTEST_TIMEOUT_MS = 15 * 60_000;

export async function netTest(ctx: ServerContext, caller: Caller, body: { agent: string; storage: string; bytes: number }): Promise<NetTestJson> {
  if (caller.role !== 'admin' && caller.role !== 'operator') throw new CairnError('E_FORBIDDEN', 'only an operator or admin may run a net test');
  const agentId = await ownedAgentId(ctx.db, caller, body.agent);
  const storageId = await partId(ctx.db, 'storage', body.storage);
  if (!ctx.hub.isOnline({ kind: 'agent', name: body.agent })) throw new CairnError('E_UNAVAILABLE', `agent ${body.agent} is offline: a net test needs it connected`);
  if (!ctx.hub.isOnline({ kind: 'storage', name: body.storage })) throw new CairnError('E_UNAVAILABLE', `storage ${body.storage} is offline: a net test needs it connected`);
  const rows = await ctx.db.query<{ address: string | null }>('SELECT address FROM storages WHERE id = ?', [storageId]);
  const url = rows[0]?.address;
  if (!url) throw new CairnError('E_UNAVAILABLE', `storage ${body.storage} has not reported its address`);
  const { token: grant } = await signAgentGrant(ctx, {
    agent: body.agent,
    storage: body.storage,
    vault: NETTEST_VAULT,
    op: 'nettest',
    run: `nettest-${Date.now()}`,
    exp: Date.now() + NETTEST_TIMEOUT_MS,
  });
  const params: NetTestParams = { storage: { name: body.storage, url }, grant, bytes: body.bytes };
  const r = (await ctx.hub.call({ kind: 'agent', name: body.agent }, 'nettest', params, NETTEST_TIMEOUT_MS)) as NetTestResult;
  const result: NetTestJson = { bytes: num(r.bytes), seconds: Number(r.seconds), throughputBytesPerSec: num(r.throughputBytesPerSec), rttMs: Number(r.rttMs) };
  await ctx.db.run('INSERT INTO net_throughput (agent_id, storage_id, run_id, kind, time, bytes, duration_ms) VALUES (?, ?, NULL, ?, ?, ?, ?)', [
    agentId,
    storageId,
    'nettest',
    now(),
    result.bytes,
    Math.max(1, Math.round(result.seconds * 1000)),
  ]);
  ctx.log(`net test agent ${body.agent} → storage ${body.storage}: ${result.bytes} bytes in ${result.seconds.toFixed(3)} s, rtt ${result.rttMs} ms`);
  return result;
}

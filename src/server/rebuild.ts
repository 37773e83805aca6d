// Catalog rebuilds (`cairn server rebuild-catalog`, as Bacula's bscan): the catalog's snapshots
// and file index restored from a vault. The server signs a read-only grant and asks an agent
// holding the vault's keys to read the vault (`rebuild`); the agent announces each snapshot it
// finds (`snapshotFound`, answered {known}), and for each new one the server makes its row and
// takes its index in batches (`rebuildIndex`, the last batch marked). A snapshot whose index did
// not end (skipped as damaged, or the rebuild failed) is taken back out, so a rebuild run again
// finds it anew. Rebuilds are kept in memory: one per vault at a time, the last ones remembered.
import { CairnError } from '../core/errors.ts';
import type { RebuildJson } from '../protocol/api-types.ts';
import type { RebuildIndexParams, RebuildParams, RebuildResult, SnapshotFoundParams, SnapshotFoundResult } from '../protocol/control.ts';
import { signAgentGrant } from './agent-grant.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { addEntries } from './catalog/file-index.ts';
import { num, partId, type ServerContext, vaultByName } from './context.ts';
import type { PartRef } from './control-hub.ts';
import { GRANT_TTL_MS } from './scheduler.ts';
import { wireEntry } from './snapshots.ts';
import { agentKeysFor } from './vaults.ts';

export type RebuildBody = { storage: string; vault: string; agent: string };

/** Ended rebuilds remembered for consoles that poll them. */
const KEEP_ENDED = 100;

type Rebuild = {
  json: RebuildJson;
  agentId: number;
  storageId: number;
  vaultId: number;
  /** the snapshot whose row the last snapshotFound made, until its index ends */
  open?: { id: string; files: number; ended: boolean };
  done?: Promise<void>;
  /** the agent certificate its first grant named: renewed grants name it too (agent-grant.ts) */
  cert?: string;
};

function isFailure(e: unknown): { code: string; message: string } {
  return e instanceof CairnError ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: `internal error: ${(e as Error)?.message}` };
}

function bad(message: string): CairnError {
  return new CairnError('E_BAD_REQUEST', `rebuild: ${message}`);
}

async function dropSnapshot(db: CatalogDriver, id: string): Promise<void> {
  await db.run('DELETE FROM files WHERE snapshot_pk IN (SELECT pk FROM snapshots WHERE id = ?)', [id]);
  await db.run('DELETE FROM snapshots WHERE id = ?', [id]);
}

export class Rebuilds {
  readonly #ctx: ServerContext;
  readonly #all = new Map<number, Rebuild>();
  #next = 1;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Starts a rebuild of the catalog from `vault` on `storage`, read by `agent`; answers at once. */
  async start(body: RebuildBody): Promise<RebuildJson> {
    const { db, hub } = this.#ctx;
    const vault = await vaultByName(db, body.vault);
    const storageId = await partId(db, 'storage', body.storage);
    if (num(vault.storage_id) !== storageId) throw new CairnError('E_CONFLICT', `vault ${vault.name} is not on storage ${body.storage}`);
    const agentId = await partId(db, 'agent', body.agent);
    const keys = await agentKeysFor(db, num(vault.id), vault.name, agentId, body.agent);
    if (!hub.isOnline({ kind: 'agent', name: body.agent })) throw new CairnError('E_UNAVAILABLE', `agent ${body.agent} is offline`);
    const address = (await db.query<{ address: string | null }>('SELECT address FROM storages WHERE id = ?', [storageId]))[0]?.address;
    if (!address) throw new CairnError('E_UNAVAILABLE', `storage ${body.storage} has not reported its address`);
    for (const r of this.#all.values())
      if (r.json.status === 'running' && r.vaultId === num(vault.id)) throw new CairnError('E_CONFLICT', `rebuild ${r.json.id} of vault ${vault.name} is still running`);
    const id = this.#next++;
    const rebuild: Rebuild = {
      json: { id, storage: body.storage, vault: vault.name, agent: body.agent, status: 'running', snapshots: 0, files: 0, known: 0, warnings: [], error: null, startedAt: new Date().toISOString(), endedAt: null },
      agentId,
      storageId,
      vaultId: num(vault.id),
    };
    this.#all.set(id, rebuild);
    this.#forgetOld();
    const params: RebuildParams = { storage: { name: body.storage, url: address }, vault: vault.name, grant: await this.#grant(rebuild), keys, rebuild: id };
    this.#ctx.log(`rebuild ${id}: catalog from vault ${vault.name} on storage ${body.storage}, read by agent ${body.agent}`);
    rebuild.done = this.#run(rebuild, params);
    return { ...rebuild.json };
  }

  get(id: number): RebuildJson {
    const r = this.#all.get(id);
    if (!r) throw new CairnError('E_NOT_FOUND', `no rebuild ${id}`);
    return { ...r.json, warnings: [...r.json.warnings] };
  }

  /** Waits for running rebuilds to end (the server stops: their agent links are closing). */
  async drain(): Promise<void> {
    await Promise.all([...this.#all.values()].map((r) => r.done));
  }

  async #run(r: Rebuild, params: RebuildParams): Promise<void> {
    const { hub, log } = this.#ctx;
    try {
      // no timeout: a large vault takes long, and the call fails when the agent's link drops
      const result = (await hub.call({ kind: 'agent', name: r.json.agent }, 'rebuild', params)) as RebuildResult;
      await this.#closeOpen(r);
      if (Array.isArray(result?.warnings)) r.json.warnings.push(...result.warnings.slice(0, 1000));
      r.json.status = 'succeeded';
    } catch (e) {
      await this.#closeOpen(r).catch((err: unknown) => log(`rebuild ${r.json.id}: taking back an unfinished snapshot: ${(err as Error).message}`));
      r.json.status = 'failed';
      r.json.error = isFailure(e);
    }
    r.json.endedAt = new Date().toISOString();
    log(`rebuild ${r.json.id} ${r.json.status}: ${r.json.snapshots} snapshot(s), ${r.json.files} file(s) added${r.json.error ? `: ${r.json.error.message}` : ''}`);
  }

  /** Takes the open snapshot back out unless its index ended. */
  async #closeOpen(r: Rebuild): Promise<void> {
    const open = r.open;
    r.open = undefined;
    if (open && !open.ended) await dropSnapshot(this.#ctx.db, open.id);
  }

  #forgetOld(): void {
    const ended = [...this.#all.values()].filter((r) => r.json.status !== 'running');
    for (const r of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.#all.delete(r.json.id);
  }

  async #grant(r: Rebuild): Promise<string> {
    const { token, cert } = await signAgentGrant(
      this.#ctx,
      {
        agent: r.json.agent,
        storage: r.json.storage,
        vault: r.json.vault,
        op: 'verify', // reads only: a rebuild never writes to the vault
        run: `rebuild-${r.json.id}`,
        exp: Date.now() + GRANT_TTL_MS,
      },
      r.cert,
    );
    r.cert = cert;
    return token;
  }

  /** The running rebuild `id` of `agent`; anything else is refused. */
  #own(agent: PartRef, id: unknown): Rebuild {
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw bad('rebuild must be an integer');
    const r = this.#all.get(id);
    if (!r || r.json.agent !== agent.name || r.json.status !== 'running')
      throw new CairnError('E_FORBIDDEN', `rebuild ${id} is not running on agent ${agent.name}`);
    return r;
  }

  /** A fresh grant for a long rebuild. */
  async renewGrant(agent: PartRef, params: unknown): Promise<{ grant: string }> {
    return { grant: await this.#grant(this.#own(agent, (params as { rebuild?: unknown })?.rebuild)) };
  }

  /** One snapshot the agent found: known to the catalog already, or recorded now (its index follows). */
  async snapshotFound(agent: PartRef, params: unknown): Promise<SnapshotFoundResult> {
    const p = params as SnapshotFoundParams;
    const r = this.#own(agent, p?.rebuild);
    if (typeof p.snapshot !== 'string' || !/^[0-9a-f]{64}$/.test(p.snapshot)) throw bad('snapshot must be 64 hex digits');
    const time = Date.parse(p.time);
    if (typeof p.time !== 'string' || !Number.isFinite(time)) throw bad('time must be an ISO 8601 time');
    const files = p.counters?.files;
    const bytes = p.counters?.bytes;
    if (!Number.isSafeInteger(files) || files < 0 || !Number.isSafeInteger(bytes) || bytes < 0) throw bad('counters.files and counters.bytes must be whole numbers');
    if (typeof p.host !== 'string') throw bad('host must be a string');
    const db = this.#ctx.db;
    // the previous snapshot was skipped by the agent (damaged) if its index never ended
    await this.#closeOpen(r);
    if ((await db.query('SELECT pk FROM snapshots WHERE id = ?', [p.snapshot])).length) {
      r.json.known++;
      return { known: true };
    }
    // the machine that made it, when an agent of that name is enrolled; else the agent reading the vault
    const byHost = await db.query<{ id: number }>('SELECT id FROM agents WHERE name = ? AND removed_at IS NULL', [p.host]);
    const agentId = byHost[0] ? num(byHost[0].id) : r.agentId;
    await db.run(
      'INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes, run_id) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, NULL)',
      [p.snapshot, agentId, r.storageId, r.vaultId, 'full', time, files, bytes],
    );
    r.open = { id: p.snapshot, files, ended: false };
    return { known: false };
  }

  /** A batch of the open snapshot's index. */
  async index(agent: PartRef, params: unknown): Promise<{ added: number }> {
    const p = params as RebuildIndexParams;
    const r = this.#own(agent, p?.run);
    const open = r.open;
    if (!open || open.ended || p.snapshot !== open.id) throw new CairnError('E_FORBIDDEN', `snapshot ${String(p.snapshot).slice(0, 64)} is not the one rebuild ${r.json.id} is indexing`);
    if (!Array.isArray(p.entries) || p.entries.length > 20_000) throw bad('entries must be an array of at most 20000');
    if (typeof p.last !== 'boolean') throw bad('last must be true or false');
    const added = await addEntries(this.#ctx.db, open.id, p.entries.map(wireEntry));
    if (p.last) {
      open.ended = true;
      r.json.snapshots++;
      r.json.files += open.files;
    }
    return { added };
  }
}

// Vaults in the catalog: created by a console that made the keys (the server receives the key
// file wrapped by the passphrase and, per agent, copies wrapped to that agent's key pair; it
// never sees a plain key), relayed to the storage server over the control channel, listed, and
// granted to more agents.
import { checkChunkerParams } from '../core/chunker.ts';
import { CairnError } from '../core/errors.ts';
import { parseKeyFile } from '../core/keys.ts';
import type { VaultJson } from '../protocol/api-types.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { iso, num, ownedAgentId, ownedVault, partId, type ServerContext, vaultByName } from './context.ts';
import { vaultFiguresByName } from './storage-figures.ts';

export type CreateVaultBody = { name: string; storage: string; chunker: unknown; keyFile: unknown; agentKeys?: Record<string, string> };

const WRAPPED = /^ak[12]\.[A-Za-z0-9_-]{20,4000}$/;

export function checkWrapped(agent: string, wrapped: string): string {
  if (!WRAPPED.test(wrapped)) throw new CairnError('E_BAD_REQUEST', `agentKeys.${agent}: not an agent-wrapped key copy`);
  return wrapped;
}

export async function createVault(ctx: ServerContext, caller: Caller, body: CreateVaultBody): Promise<VaultJson> {
  const chunker = checkChunkerParams(body.chunker);
  const keyFile = parseKeyFile(body.keyFile);
  const storageId = await partId(ctx.db, 'storage', body.storage);
  const agentIds = new Map<number, string>();
  for (const [agent, wrapped] of Object.entries(body.agentKeys ?? {})) agentIds.set(await ownedAgentId(ctx.db, caller, agent), checkWrapped(agent, wrapped));
  const existing = await ctx.db.query('SELECT id FROM vaults WHERE name = ?', [body.name]);
  if (existing.length) throw new CairnError('E_CONFLICT', `vault ${body.name} already exists`);
  // the storage server first: a vault in the catalog always exists where it says
  await ctx.hub.call({ kind: 'storage', name: body.storage }, 'createVault', { vault: body.name, config: { version: 1, chunker, keyFile } }, 60_000);
  await ctx.db.transaction(async (tx) => {
    const now = Date.now();
    await tx.run('INSERT INTO vaults (name, storage_id, owner_id, key_file, chunker, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      body.name,
      storageId,
      caller.id,
      JSON.stringify(keyFile),
      JSON.stringify(chunker),
      now,
    ]);
    const vault = await vaultByName(tx, body.name);
    for (const [agentId, wrapped] of agentIds)
      await tx.run('INSERT INTO vault_agent_keys (vault_id, agent_id, wrapped, created_at) VALUES (?, ?, ?, ?)', [vault.id, agentId, wrapped, now]);
  });
  return getVault(ctx.db, caller, body.name);
}

export async function listVaults(db: CatalogDriver, caller: Caller): Promise<VaultJson[]> {
  const all = await db.query<{ id: number; name: string; storage: string; owner: string | null; owner_id: number | null; created_at: number }>(
    `SELECT v.id, v.name, s.name AS storage, u.name AS owner, v.owner_id, v.created_at FROM vaults v
       JOIN storages s ON s.id = v.storage_id LEFT JOIN users u ON u.id = v.owner_id ORDER BY v.name`,
  );
  const rows = all.filter((r) => caller.role !== 'user' || (r.owner_id !== null && num(r.owner_id) === caller.id));
  const keys = await db.query<{ vault_id: number; agent: string }>(
    `SELECT k.vault_id, a.name AS agent FROM vault_agent_keys k JOIN agents a ON a.id = k.agent_id
      WHERE a.removed_at IS NULL ORDER BY a.name`,
  );
  const figures = await vaultFiguresByName({ db });
  return rows.map((r) => ({
    name: r.name,
    storage: r.storage,
    owner: r.owner,
    createdAt: iso(r.created_at)!,
    agents: keys.filter((k) => num(k.vault_id) === num(r.id)).map((k) => k.agent),
    ...(figures.get(r.name) ?? { bytesStored: null, bytesLogical: 0, dedupRatio: null }),
  }));
}

export async function getVault(db: CatalogDriver, caller: Caller, name: string): Promise<VaultJson & { chunker: unknown; keyFile: unknown }> {
  const vault = await ownedVault(db, caller, name);
  const listed = (await listVaults(db, caller)).find((v) => v.name === name)!;
  return { ...listed, chunker: JSON.parse(vault.chunker), keyFile: JSON.parse(vault.key_file) };
}

export async function grantVaultToAgent(ctx: ServerContext, caller: Caller, vaultName: string, agent: string, wrapped: string): Promise<void> {
  const vault = await ownedVault(ctx.db, caller, vaultName);
  const agentId = await ownedAgentId(ctx.db, caller, agent);
  checkWrapped(agent, wrapped);
  await ctx.db.run(
    `INSERT INTO vault_agent_keys (vault_id, agent_id, wrapped, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (vault_id, agent_id) DO UPDATE SET wrapped = excluded.wrapped, created_at = excluded.created_at`,
    [vault.id, agentId, wrapped, Date.now()],
  );
}

export async function replaceKeyFile(ctx: ServerContext, caller: Caller, vaultName: string, keyFile: unknown): Promise<void> {
  const vault = await ownedVault(ctx.db, caller, vaultName);
  const checked = parseKeyFile(keyFile);
  // the storage server's copy first: it alone restores the vault if the catalog is lost, so the
  // old passphrase must stop working there too; an offline storage server changes nothing
  const storage = await ctx.db.query<{ name: string }>('SELECT name FROM storages WHERE id = ?', [vault.storage_id]);
  await ctx.hub.call({ kind: 'storage', name: storage[0]!.name }, 'replaceKeyFile', { vault: vault.name, keyFile: checked }, 60_000);
  await ctx.db.run('UPDATE vaults SET key_file = ? WHERE id = ?', [JSON.stringify(checked), vault.id]);
}

/** The agent's wrapped copy of the vault's keys, or E_FORBIDDEN saying how to give it one. */
export async function agentKeysFor(db: CatalogDriver, vaultId: number, vaultName: string, agentId: number, agent: string): Promise<string> {
  const rows = await db.query<{ wrapped: string }>('SELECT wrapped FROM vault_agent_keys WHERE vault_id = ? AND agent_id = ?', [vaultId, agentId]);
  if (!rows[0])
    throw new CairnError('E_FORBIDDEN', `agent ${agent} holds no keys for vault ${vaultName}: run cairn vault grant ${vaultName} --agent ${agent} --passphrase-stdin`);
  return rows[0].wrapped;
}

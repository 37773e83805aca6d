// Adopting a vault the catalog does not know, for a catalog rebuilt after a loss: the storage
// server still holds the vault (its chunker and passphrase-wrapped key file in vault.json), so
// the server asks it for that config over the control channel and records the vault from it,
// with the agent copies of the keys a console wrapped after unwrapping the key file with the
// passphrase. The key file comes from the storage server itself, never from the console.
import { CairnError, isCairnError } from '../core/errors.ts';
import type { StorageVaultJson, VaultJson } from '../protocol/api-types.ts';
import { checkVaultName, parseVaultConfig, type VaultConfig } from '../protocol/data-plane.ts';
import type { Caller } from './auth/accounts.ts';
import { ownedAgentId, partId, type ServerContext, vaultByName } from './context.ts';
import { checkWrapped, getVault } from './vaults.ts';

export type AdoptVaultBody = { name: string; storage: string; agentKeys: Record<string, string> };

/** The vault's config as storage server `storage` keeps it; E_NOT_FOUND when it has no such vault. */
export async function storageVaultConfig(ctx: ServerContext, storage: string, vault: string): Promise<VaultConfig> {
  await partId(ctx.db, 'storage', storage);
  checkVaultName(vault);
  let answer: unknown;
  try {
    answer = await ctx.hub.call({ kind: 'storage', name: storage }, 'getVault', { vault }, 60_000);
  } catch (e) {
    if (isCairnError(e, 'E_NOT_FOUND')) throw new CairnError('E_NOT_FOUND', `storage ${storage} has no vault named ${vault}`);
    throw e;
  }
  try {
    return parseVaultConfig((answer as { config?: unknown })?.config);
  } catch (e) {
    throw new CairnError('E_CORRUPT', `storage ${storage} answered a bad config for vault ${vault}: ${(e as Error).message}`);
  }
}

export async function storageVault(ctx: ServerContext, storage: string, vault: string): Promise<StorageVaultJson> {
  const config = await storageVaultConfig(ctx, storage, vault);
  return { name: vault, storage, chunker: config.chunker, keyFile: config.keyFile };
}

/** Records storage `storage`'s vault `name` in the catalog, owned by the caller, with the agents' wrapped keys. */
export async function adoptVault(ctx: ServerContext, caller: Caller, body: AdoptVaultBody): Promise<VaultJson> {
  const storageId = await partId(ctx.db, 'storage', body.storage);
  const agentIds = new Map<number, string>();
  for (const [agent, wrapped] of Object.entries(body.agentKeys)) agentIds.set(await ownedAgentId(ctx.db, caller, agent), checkWrapped(agent, wrapped));
  if ((await ctx.db.query('SELECT id FROM vaults WHERE name = ?', [body.name])).length)
    throw new CairnError('E_CONFLICT', `vault ${body.name} is already in the catalog`);
  const config = await storageVaultConfig(ctx, body.storage, body.name);
  await ctx.db.transaction(async (tx) => {
    const now = Date.now();
    await tx.run('INSERT INTO vaults (name, storage_id, owner_id, key_file, chunker, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      body.name,
      storageId,
      caller.id,
      JSON.stringify(config.keyFile),
      JSON.stringify(config.chunker),
      now,
    ]);
    const vault = await vaultByName(tx, body.name);
    for (const [agentId, wrapped] of agentIds)
      await tx.run('INSERT INTO vault_agent_keys (vault_id, agent_id, wrapped, created_at) VALUES (?, ?, ?, ?)', [vault.id, agentId, wrapped, now]);
  });
  return getVault(ctx.db, caller, body.name);
}

// What a backup or restore run needs from the agent around it: the control channel (calls to
// the backup server and progress events), the agent's own key, a storage client for the run's
// storage server, a temp folder, and the signal a `cancel` aborts. The daemon builds one from the
// live channel; a test builds one with a standalone storage server and a recording `call`.
// `withVaultAccess` is the frame every run on a vault shares: keys unwrapped and checked to be
// the vault's before any work, grant kept fresh.
import { openForAgent } from '../core/agent-keys.ts';
import { CairnError } from '../core/errors.ts';
import { keyCheck, type VaultKeys } from '../core/keys.ts';
import type { StorageRef } from '../protocol/control.ts';
import type { VaultConfig } from '../protocol/data-plane.ts';
import { GrantKeeper, type Renew } from './grant-keeper.ts';
import type { StorageClient } from './storage-client.ts';
import type { VaultCheckPins } from './vault-check-pins.ts';

export type RunContext = {
  /** a call to the backup server over the control channel */
  call: (method: string, params: unknown) => Promise<unknown>;
  /** a progress or log event of a run */
  event: (run: number, kind: 'progress' | 'log', data: unknown) => void;
  /** PEM of the private key the vault keys are wrapped to (agent-key.pem) */
  agentKeyPem: string;
  /** the vaults' key-check values pinned at first use (the daemon's data folder; tests may leave it out) */
  checkPins?: VaultCheckPins;
  /** a data-plane client for the run's storage server, sending `grant()` with every request */
  storageClient: (storage: StorageRef, grant: () => string) => StorageClient;
  /** this machine's name, as snapshot records keep it */
  host: string;
  /** DATA/tmp: where the file index waits to be sent */
  tmpDir: string;
  /** aborted by a `cancel` of the run */
  signal?: AbortSignal;
  /** worker threads (tests); default: one per CPU */
  workers?: number;
  log?: (line: string) => void;
};

/** The error a canceled run ends with (the server shows the run `canceled`). */
export function canceledError(): CairnError {
  return new CairnError('E_CONFLICT', 'canceled');
}

/** What a run's call carries to reach its vault: the keys wrapped to this agent, a grant, the storage server. */
export type VaultAccess = { keys: string; grant: string; storage: StorageRef; vault: string; run?: number };

/**
 * Runs `work` with the vault keys unwrapped and a storage client whose grant `renew` keeps fresh
 * for as long as the work lasts; the keeper and the client are closed however it ends. The keys
 * are first checked to be the vault's (checkVaultKeys): refused keys fail the run before `work`
 * writes or reads anything.
 */
export async function withVaultAccess<T>(
  access: VaultAccess,
  ctx: RunContext,
  renew: Renew,
  work: (keys: VaultKeys, client: StorageClient, config: VaultConfig) => Promise<T>,
): Promise<T> {
  const opened = openForAgent(access.keys, ctx.agentKeyPem);
  const keeper = new GrantKeeper(access.grant, renew, { log: ctx.log });
  const client = ctx.storageClient(access.storage, keeper.current);
  try {
    const config = await client.getVault(access.vault);
    await checkVaultKeys(access, opened, config, ctx);
    return await work(opened.keys, client, config);
  } finally {
    keeper.close();
    client.close();
  }
}

/**
 * Keys sent for `access.vault` are its keys: a copy bound to a vault (ak2) names this vault's id,
 * the keys give the vault's key-check value (when vault.json has one) and the value this agent
 * pinned for the vault at its first use. A legacy copy (ak1) is taken with one warning line.
 */
async function checkVaultKeys(
  access: VaultAccess,
  opened: { keys: VaultKeys; vaultId: string | undefined },
  config: VaultConfig,
  ctx: RunContext,
): Promise<void> {
  const { vault } = access;
  const refuse = (why: string) => new CairnError('E_CONFLICT', `vault ${vault}: ${why}; refused before writing anything`);
  if (opened.vaultId !== undefined && opened.vaultId !== config.keyFile.vaultId)
    throw refuse(`the keys sent for it are bound to another vault (id ${opened.vaultId}; this vault's is ${config.keyFile.vaultId ?? 'not set'})`);
  const check = keyCheck(opened.keys);
  if (config.keyFile.check !== undefined && config.keyFile.check !== check)
    throw refuse(`the keys sent for it are not its keys (key-check value ${check}; the vault's is ${config.keyFile.check})`);
  await ctx.checkPins?.check(access.storage.name, vault, check);
  if (opened.vaultId === undefined) {
    const line = `vault ${vault}: legacy key wrap without a vault binding; re-grant with 'cairn vault grant' to bind it`;
    if (access.run !== undefined) ctx.event(access.run, 'log', { level: 'warn', message: line });
    else ctx.log?.(line);
  }
}

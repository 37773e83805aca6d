// What a backup or restore run needs from the agent around it: the control channel (calls to
// the backup server and progress events), the agent's own key, a storage client for the run's
// storage server, a temp folder, and the signal a `cancel` aborts. The daemon builds one from the
// live channel; a test builds one with a standalone storage server and a recording `call`.
// `withVaultAccess` is the frame every run on a vault shares: keys unwrapped, grant kept fresh.
import { unwrapForAgent } from '../core/agent-keys.ts';
import { CairnError } from '../core/errors.ts';
import type { VaultKeys } from '../core/keys.ts';
import type { StorageRef } from '../protocol/control.ts';
import { GrantKeeper, type Renew } from './grant-keeper.ts';
import type { StorageClient } from './storage-client.ts';

export type RunContext = {
  /** a call to the backup server over the control channel */
  call: (method: string, params: unknown) => Promise<unknown>;
  /** a progress or log event of a run */
  event: (run: number, kind: 'progress' | 'log', data: unknown) => void;
  /** PEM of the private key the vault keys are wrapped to (agent-key.pem) */
  agentKeyPem: string;
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
export type VaultAccess = { keys: string; grant: string; storage: StorageRef };

/**
 * Runs `work` with the vault keys unwrapped and a storage client whose grant `renew` keeps fresh
 * for as long as the work lasts; the keeper and the client are closed however it ends.
 */
export async function withVaultAccess<T>(
  access: VaultAccess,
  ctx: RunContext,
  renew: Renew,
  work: (keys: VaultKeys, client: StorageClient) => Promise<T>,
): Promise<T> {
  const keys = unwrapForAgent(access.keys, ctx.agentKeyPem);
  const keeper = new GrantKeeper(access.grant, renew, { log: ctx.log });
  const client = ctx.storageClient(access.storage, keeper.current);
  try {
    return await work(keys, client);
  } finally {
    keeper.close();
    client.close();
  }
}

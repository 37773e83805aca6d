// What an agent is sent when one of its runs starts (the scheduler hands it over): the storage
// server to reach, the vault with its keys wrapped to this agent, a grant for the run's
// operation there, and the kind's own parameters (run-backup.ts, run-restore.ts, run-verify.ts).
import { CairnError } from '../core/errors.ts';
import type { GrantOp } from '../protocol/grant.ts';
import { num, type ServerContext } from './context.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { backupParams } from './run-backup.ts';
import { type RestoreRequestStored, restoreParams } from './run-restore.ts';
import type { RunRow } from './runs.ts';
import { verifyParams } from './run-verify.ts';
import { snapshotRow } from './snapshots.ts';
import { agentKeysFor } from './vaults.ts';

/** The grant operation of an agent's run: reads for a restore or verify, writes for a backup. */
export function grantOp(kind: RunRow['kind']): GrantOp {
  return kind === 'backup' ? 'backup' : kind === 'verify' ? 'verify' : 'restore';
}

/** The vault a run works on: its job's for a backup, its snapshot's for a restore or verify. */
export async function runVault(db: CatalogDriver, run: RunRow): Promise<{ id: number; name: string }> {
  if (run.kind === 'backup') {
    const rows = await db.query<{ id: number; name: string }>('SELECT v.id, v.name FROM jobs j JOIN vaults v ON v.id = j.vault_id WHERE j.id = ?', [run.job_id]);
    return { id: num(rows[0]!.id), name: rows[0]!.name };
  }
  const stored = JSON.parse(run.pretreatment ?? '{}') as RestoreRequestStored;
  const snap = await snapshotRow(db, stored.request.snapshot);
  return { id: num(snap.vault_id), name: snap.vault };
}

/** The parameters of the call that starts `run` on its agent; `grant` signs one for the vault. */
export async function startParams(ctx: ServerContext, run: RunRow, grant: (vault: string) => Promise<string>): Promise<unknown> {
  const storageRows = await ctx.db.query<{ address: string | null }>('SELECT address FROM storages WHERE id = ?', [run.storage_id]);
  const url = storageRows[0]?.address;
  if (!url) throw new CairnError('E_UNAVAILABLE', `storage ${run.storage} has not reported its address`);
  const vault = await runVault(ctx.db, run);
  const keys = await agentKeysFor(ctx.db, vault.id, vault.name, num(run.agent_id), run.agent!);
  const x = { storage: { name: run.storage!, url }, vault: vault.name, keys, grant: await grant(vault.name) };
  if (run.kind === 'backup') return backupParams(ctx, run, x);
  if (run.kind === 'restore') return restoreParams(ctx, run, x);
  if (run.kind === 'verify') return verifyParams(ctx, run, x);
  throw new CairnError('E_BAD_REQUEST', `${run.kind} runs are not supported yet`);
}

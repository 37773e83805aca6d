// The agent's side of a `verify` call: opens the vault keys sent wrapped to this agent, loads
// the snapshot from the run's storage server (with the run's read-only grant, kept fresh by
// GrantKeeper) and checks it at the level asked: `catalog` (every chunk known to the storage
// server, verify/catalog-check.ts), `data` (every chunk read back and re-hashed,
// verify/data-check.ts) or `disk` (the live files against the snapshot, verify/disk-compare.ts).
// Damage is not an error: it comes back in `damaged`, and the server ends the run failed.
import { gearTable } from '../core/chunker.ts';
import { checkBody, type Schema } from '../protocol/api-schema.ts';
import { boundResult, VERIFY_LEVELS, type VerifyParams, type VerifyResult } from '../protocol/control.ts';
import { renewByCall } from './grant-keeper.ts';
import {
  excludeMatcher,
  grantSchema,
  runIdSchema,
  snapshotIdSchema,
  storageRefSchema,
  vaultNameSchema,
  wrappedKeysSchema,
} from './run-backup.ts';
import { type RunContext, withVaultAccess } from './run-context.ts';
import { ProgressSender } from './run-progress.ts';
import { loadSnapshot } from './snapshots.ts';
import { checkCatalog } from './verify/catalog-check.ts';
import { checkData } from './verify/data-check.ts';
import { compareDisk } from './verify/disk-compare.ts';
import { type VerifyInput, VerifyTally } from './verify/verify-tally.ts';

const verifyParamsSchema: Schema = {
  type: 'object',
  properties: {
    run: runIdSchema,
    snapshot: snapshotIdSchema,
    level: { type: 'string', enum: VERIFY_LEVELS },
    storage: storageRefSchema,
    vault: vaultNameSchema,
    grant: grantSchema,
    keys: wrappedKeysSchema,
    excludes: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 4096 }, maxItems: 1000 },
  },
  required: ['run', 'snapshot', 'level', 'storage', 'vault', 'grant', 'keys'],
};

/** `params` as VerifyParams, or E_BAD_REQUEST naming the first bad field. */
export function checkVerifyParams(params: unknown): VerifyParams {
  return checkBody<VerifyParams>(verifyParamsSchema, params);
}

export async function runVerify(params: VerifyParams, ctx: RunContext): Promise<VerifyResult> {
  const { run, vault, level } = params;
  return withVaultAccess(params, ctx, renewByCall(ctx.call, run), async (keys, client, { chunker }) => {
    const progress = new ProgressSender((data) => ctx.event(run, 'progress', data));
    const snapshot = await loadSnapshot(client, vault, keys, params.snapshot);
    // the snapshot's size says how much there is to check
    const work = (bytes: number) => ({ done: bytes, total: snapshot.summary.bytes });
    const tally = new VerifyTally((p) => progress.offer('checking', p, work(p.bytes ?? 0)));
    progress.offer('checking', { files: 0, bytes: 0 }, work(0), true);
    const input: VerifyInput = { client, vault, keys, snapshot, tally, signal: ctx.signal, workers: ctx.workers };
    if (level === 'catalog') await checkCatalog(input);
    else if (level === 'data') await checkData(input);
    else {
      const rechunker = { keys, chunker, gear: gearTable(keys.chunkerKey) };
      await compareDisk({ ...input, rechunker, exclude: excludeMatcher(params.excludes ?? []) });
    }
    progress.offer('checking', { files: tally.files, bytes: tally.bytes }, work(tally.bytes), true);
    return boundResult(tally.result());
  });
}

// Verify jobs: `POST /api/verifies {snapshot, level, agent?}` queues a run of kind `verify` on
// the snapshot's agent (or another one the caller may use), which checks the snapshot at the
// level asked (catalog, data or disk) when the scheduler starts it.
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { VERIFY_LEVELS, type VerifyLevel } from '../../protocol/control.ts';
import { num, ownedAgentId, type ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { queueRun } from '../runs.ts';
import type { VerifyRequestStored } from '../run-verify.ts';
import { snapshotRow } from '../snapshots.ts';

/** The body of POST /api/verifies. */
export type VerifyRequest = { snapshot: string; level: VerifyLevel; agent?: string };

const verifyBody: Schema = {
  type: 'object',
  properties: {
    // its form (8-64 hex digits) is checked by the lookup, which answers "no snapshot X" like every snapshot route
    snapshot: { type: 'string', minLength: 1, maxLength: 64, description: 'snapshot id or a unique prefix of at least 8 hex digits' },
    level: { type: 'string', enum: VERIFY_LEVELS, description: 'catalog: chunks present; data: chunks read back and re-hashed; disk: live files compared' },
    agent: nameSchema,
  },
  required: ['snapshot', 'level'],
};

export function verifyRoutes(ctx: ServerContext): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/verifies',
      summary: 'verify a snapshot at level catalog, data or disk; queued as a run',
      access: 'operate',
      body: verifyBody,
      handle: async ({ body, caller }) => {
        const r = body as VerifyRequest;
        const snap = await snapshotRow(ctx.db, r.snapshot, caller);
        const agentId = await ownedAgentId(ctx.db, caller!, r.agent ?? snap.agent);
        const jobRows = await ctx.db.query<{ job_id: number | null }>('SELECT job_id FROM snapshots WHERE pk = ?', [snap.pk]);
        const stored: VerifyRequestStored = { request: { snapshot: snap.id, level: r.level } };
        return queueRun(ctx, { jobId: jobRows[0]?.job_id ?? null, kind: 'verify', requestedLevel: null, agentId, storageId: num(snap.storage_id), pretreatment: stored });
      },
    },
  ];
}

// Routes that forget snapshots: one by id (`snapshot forget`), or what a job's retention policy
// lets go (`forget --job J`, with the job's own policy or the one given, `--dry-run` changing
// nothing). Both answer once the storage server deleted the records; with it offline the
// snapshots are reported `forgetting` and finished when it is back.
import { CairnError } from '../../core/errors.ts';
import type { Schema } from '../../protocol/api-schema.ts';
import type { ServerContext } from '../context.ts';
import { applyJobRetention, forgetSnapshots } from '../forget.ts';
import type { Route } from '../http/router.ts';
import { ownedJob } from '../jobs.ts';
import { retentionSchema } from './job-routes.ts';
import type { RetentionPolicy } from '../retention.ts';
import { snapshotRow } from '../snapshots.ts';

const forgetBody: Schema = {
  type: 'object',
  properties: {
    keep: retentionSchema,
    dryRun: { type: 'boolean' },
  },
};

export function forgetRoutes(ctx: ServerContext): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/snapshots/:id/forget',
      summary: 'forget one snapshot (409 while a run uses it)',
      access: 'operate',
      handle: async ({ params, caller }) => {
        const snap = await snapshotRow(ctx.db, params.id!, caller!);
        const done = await forgetSnapshots(ctx, [snap.id]);
        return { forgotten: done.forgotten, forgetting: done.forgetting };
      },
    },
    {
      method: 'POST',
      path: '/api/jobs/:name/forget',
      summary: "apply a retention policy (the job's own unless `keep` is given) to the job's snapshots",
      access: 'operate',
      body: forgetBody,
      handle: async ({ params, body, caller }) => {
        const job = await ownedJob(ctx.db, caller!, params.name!);
        const b = body as { keep?: RetentionPolicy; dryRun?: boolean };
        const policy = b.keep !== undefined && Object.keys(b.keep).length > 0 ? b.keep : (JSON.parse(job.retention) as RetentionPolicy);
        if (Object.keys(policy).length === 0) throw new CairnError('E_BAD_REQUEST', `job ${job.name} has no retention policy: give --keep-…`);
        const done = await applyJobRetention(ctx, job.id, policy, b.dryRun === true);
        return { kept: done.kept, forgotten: done.forgotten, forgetting: done.forgetting };
      },
    },
  ];
}

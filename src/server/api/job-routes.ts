// Routes about jobs and their runs: define, list, show, remove, run now; runs list, show, log, cancel.
import { absolutePathSchema, levelSchema, type Level, nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { num, type ServerContext } from '../context.ts';
import { estimateJob } from '../estimate.ts';
import type { Route } from '../http/router.ts';
import { type CreateJobBody, createJob, type EditJobBody, editJob, listJobs, ownedJob, removeJob, showJob } from '../jobs.ts';
import { getRun, listRuns, parseRunId, queueRun, runLog } from '../runs.ts';
import type { Scheduler } from '../scheduler.ts';

const count: Schema = { type: 'integer', minimum: 1, maximum: 100000 };
/** A retention policy: restic's --keep-* counts, each at least 1 (also `forget`'s `keep`). */
export const retentionSchema: Schema = {
  type: 'object',
  properties: { last: count, hourly: count, daily: count, weekly: count, monthly: count, yearly: count },
};
/** Settings `job create` and `job edit` share (on an edit, 0 removes a limit). */
const settingProps = (limitMin: number): Record<string, Schema> => ({
  paths: { type: 'array', items: absolutePathSchema, minItems: 1, maxItems: 256 },
  excludes: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 1024 }, maxItems: 1024 },
  schedule: {
    type: 'array',
    maxItems: 64,
    items: { type: 'object', properties: { cron: { type: 'string', minLength: 9, maxLength: 200 }, level: levelSchema }, required: ['cron', 'level'] },
  },
  retention: retentionSchema,
  bwlimit: { type: 'integer', minimum: limitMin, description: 'bytes per second' },
  priority: { type: 'integer', minimum: 0, maximum: 1000 },
  maxRuntimeSeconds: { type: 'integer', minimum: limitMin, maximum: 366 * 86400 },
  retries: { type: 'integer', minimum: 0, maximum: 100 },
  oneFileSystem: { type: 'boolean' },
  excludeCaches: { type: 'boolean' },
  maxFileSize: { type: 'integer', minimum: limitMin, description: 'bytes' },
});
const jobBody: Schema = {
  type: 'object',
  properties: { name: nameSchema, agent: nameSchema, storage: nameSchema, vault: nameSchema, ...settingProps(1) },
  required: ['name', 'agent', 'storage', 'vault', 'paths'],
};
const editBody: Schema = {
  type: 'object',
  properties: { ...settingProps(0), paused: { type: 'boolean' } },
};
const runBody: Schema = { type: 'object', properties: { level: levelSchema, forceRead: { type: 'boolean' } } };
type RunBody = { level?: Level; forceRead?: boolean };

export function jobRoutes(ctx: ServerContext, scheduler: Scheduler): Route[] {
  return [
    { method: 'GET', path: '/api/jobs', summary: 'jobs', access: 'read', handle: async ({ caller }) => listJobs(ctx.db, caller!) },
    { method: 'POST', path: '/api/jobs', summary: 'define a job', access: 'operate', body: jobBody, handle: async ({ body, caller }) => createJob(ctx, caller!, body as CreateJobBody) },
    { method: 'GET', path: '/api/jobs/:name', summary: 'one job', access: 'read', handle: async ({ params, caller }) => showJob(ctx.db, caller!, params.name!) },
    {
      method: 'PATCH',
      path: '/api/jobs/:name',
      summary: 'change settings of a job (not its agent, storage or vault); a list given replaces the whole list; 0 removes a limit',
      access: 'operate',
      body: editBody,
      handle: async ({ params, body, caller }) => editJob(ctx, caller!, params.name!, body as EditJobBody),
    },
    {
      method: 'DELETE',
      path: '/api/jobs/:name',
      summary: 'remove a job (its snapshots stay)',
      access: 'operate',
      handle: async ({ params, caller }) => {
        await removeJob(ctx.db, caller!, params.name!);
        return {};
      },
    },
    {
      method: 'POST',
      path: '/api/jobs/:name/runs',
      summary: 'run a job now (queued; answers the run)',
      access: 'operate',
      body: runBody,
      handle: async ({ params, body, caller }) => {
        const job = await ownedJob(ctx.db, caller!, params.name!);
        const { level = 'incremental', forceRead = false } = body as RunBody;
        return queueRun(ctx, { jobId: job.id, kind: 'backup', requestedLevel: level, agentId: job.agent_id, storageId: job.storage_id, forceRead, priority: num(job.priority) });
      },
    },
    {
      method: 'POST',
      path: '/api/jobs/:name/estimate',
      summary: 'files and bytes a run at a level would read, storing nothing (one per agent at a time; closing the request cancels it)',
      access: 'operate', // it makes the agent walk the job's paths, as a run does
      body: runBody,
      handle: async ({ params, body, caller, res }) => {
        const job = await ownedJob(ctx.db, caller!, params.name!); // unknown (or not the caller's) job: 404 first
        const { level = 'incremental', forceRead = false } = body as RunBody;
        const gone = new AbortController();
        const closed = () => {
          if (!res.writableFinished) gone.abort();
        };
        res.once('close', closed);
        try {
          return await estimateJob(ctx, job, level, forceRead, gone.signal);
        } finally {
          res.off('close', closed);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/runs',
      summary: 'runs, newest first',
      access: 'read',
      query: { job: 'only this job', status: 'only runs with this status', limit: 'at most this many (default 100)' },
      handle: async ({ query, caller }) =>
        listRuns(ctx.db, caller!, {
          job: query.get('job') ?? undefined,
          status: query.get('status') ?? undefined,
          limit: query.has('limit') ? Number(query.get('limit')) || 100 : undefined,
        }),
    },
    { method: 'GET', path: '/api/runs/:id', summary: 'one run, with live counters while it runs', access: 'read', handle: async ({ params, caller }) => getRun(ctx.db, parseRunId(params.id!), caller) },
    { method: 'GET', path: '/api/runs/:id/log', summary: "a run's log", access: 'read', handle: async ({ params, caller }) => runLog(ctx.db, parseRunId(params.id!), caller!) },
    {
      method: 'POST',
      path: '/api/runs/:id/cancel',
      summary: 'cancel a queued or running run',
      access: 'operate',
      handle: async ({ params, caller }) => {
        const id = parseRunId(params.id!);
        await getRun(ctx.db, id, caller);
        await scheduler.cancel(id);
        return getRun(ctx.db, id, caller);
      },
    },
  ];
}

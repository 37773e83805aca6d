// Routes about snapshots (list, show, browse one directory from the catalog's file index) and
// restores (queued as runs of the target agent).
import { CairnError } from '../../core/errors.ts';
import { absolutePathSchema, CONFLICT_POLICIES, nameSchema, type Schema } from '../../protocol/api-schema.ts';
import type { RestoreRequest } from '../../protocol/api-types.ts';
import { num, ownedAgentId, type ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { queueRun } from '../runs.ts';
import type { RestoreRequestStored } from '../scheduler.ts';
import { getSnapshot, listSnapshots, lsSnapshot, snapshotRow } from '../snapshots.ts';

const restoreBody: Schema = {
  type: 'object',
  properties: {
    // its form (8-64 hex digits) is checked by the lookup, which answers "no snapshot X" like every snapshot route
    snapshot: { type: 'string', minLength: 1, maxLength: 64, description: 'snapshot id or a unique prefix of at least 8 hex digits' },
    agent: nameSchema,
    to: absolutePathSchema,
    include: { type: 'array', items: absolutePathSchema, maxItems: 1024 },
    conflict: { type: 'string', enum: CONFLICT_POLICIES },
    dryRun: { type: 'boolean' },
  },
  required: ['snapshot'],
};

function lsPath(query: URLSearchParams): Buffer {
  const bytes = query.get('pathBytes');
  const path = bytes !== null ? Buffer.from(bytes, 'base64') : Buffer.from(query.get('path') ?? '/', 'utf8');
  if (path[0] !== 0x2f) throw new CairnError('E_BAD_REQUEST', 'path must be absolute');
  return path;
}

export function snapshotRoutes(ctx: ServerContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/snapshots',
      summary: 'snapshots, newest first',
      access: 'read',
      query: { agent: 'only this agent', job: 'only this job' },
      handle: async ({ query, caller }) => listSnapshots(ctx.db, caller!, { agent: query.get('agent') ?? undefined, job: query.get('job') ?? undefined }),
    },
    { method: 'GET', path: '/api/snapshots/:id', summary: 'one snapshot (id or unique prefix)', access: 'read', handle: async ({ params, caller }) => getSnapshot(ctx.db, params.id!, caller!) },
    {
      method: 'GET',
      path: '/api/snapshots/:id/ls',
      summary: "one directory of a snapshot, from the catalog's file index",
      access: 'read',
      query: { path: 'absolute directory path (UTF-8)', pathBytes: 'or its exact bytes in base64' },
      handle: async ({ params, query, caller }) => lsSnapshot(ctx.db, params.id!, lsPath(query), caller!),
    },
    {
      method: 'POST',
      path: '/api/restores',
      summary: 'restore a snapshot (or --include paths) on its agent or another one; queued as a run',
      access: 'operate',
      body: restoreBody,
      handle: async ({ body, caller }) => {
        const r = body as RestoreRequest;
        const snap = await snapshotRow(ctx.db, r.snapshot, caller);
        const agentName = r.agent ?? snap.agent;
        const agentId = await ownedAgentId(ctx.db, caller!, agentName);
        const jobRows = await ctx.db.query<{ job_id: number | null }>('SELECT job_id FROM snapshots WHERE pk = ?', [snap.pk]);
        const stored: RestoreRequestStored = {
          request: { snapshot: snap.id, to: r.to ?? '/', include: r.include ?? [], conflict: r.conflict ?? 'rename', dryRun: r.dryRun ?? false },
        };
        return queueRun(ctx, { jobId: jobRows[0]?.job_id ?? null, kind: 'restore', requestedLevel: null, agentId, storageId: num(snap.storage_id), pretreatment: stored });
      },
    },
  ];
}

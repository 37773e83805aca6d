// Routes about snapshots (list, show, browse one directory from the catalog's file index) and
// restores (queued as runs of the target agent; failed at once when that agent is offline).
import { CairnError } from '../../core/errors.ts';
import { absolutePathSchema, CONFLICT_POLICIES, nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { NEXT_AFTER_HEADER, type RestoreRequest, type RunJson } from '../../protocol/api-types.ts';
import type { RestorePretreatment } from '../../protocol/control.ts';
import { num, ownedAgentId, type ServerContext } from '../context.ts';
import { percentEncode, queryBytes, queryCount } from '../http/query-params.ts';
import type { Route } from '../http/router.ts';
import { endRunLog, getRun, logRun, queueRun, updateRun } from '../runs.ts';
import type { RestoreRequestStored } from '../run-restore.ts';
import { LS_PAGE, lsSnapshot } from '../snapshot-browse.ts';
import { FIND_LIMIT, findInJob } from '../snapshot-find.ts';
import { getSnapshot, listSnapshots, snapshotRow } from '../snapshots.ts';

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

/** Where a page starts: `after` (%-encoded bytes, as Cairn-Next-After gives it) or `afterBytes` (base64, as `nameBytes` is). */
function lsAfter(url: string, query: URLSearchParams): Buffer | undefined {
  const base64 = query.get('afterBytes');
  const after = queryBytes(url, 'after');
  if (base64 === null) return after;
  if (after !== undefined) throw new CairnError('E_BAD_REQUEST', 'give after or afterBytes, not both');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) throw new CairnError('E_BAD_REQUEST', 'afterBytes must be base64 (as nameBytes is)');
  return Buffer.from(base64, 'base64');
}

/**
 * The first check of a restore's pretreatment: its agent is online. An offline one fails the run
 * at once (a restore waiting for a machine that may be gone helps nobody); only while the run is
 * still queued, so an agent that came back meanwhile keeps it.
 */
async function failOffline(ctx: ServerContext, id: number, agent: string, target: string): Promise<RunJson> {
  const problem = `agent ${agent} is offline`;
  const pretreatment: RestorePretreatment = { target, agentOnline: false, ok: false, problems: [problem], conflicts: [] };
  const fields = { status: 'failed', reason: null, ended_at: Date.now(), error: `pretreatment found problems: ${problem}`, pretreatment: JSON.stringify(pretreatment) };
  if (await updateRun(ctx, id, fields, 'queued')) {
    await logRun(ctx, id, `failed: ${problem}`);
    await endRunLog(ctx, id);
  }
  return getRun(ctx.db, id);
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
      summary: "one directory of a snapshot, from the catalog's file index: a page of entries sorted by name bytes",
      access: 'read',
      query: {
        path: 'absolute directory path (UTF-8)',
        pathBytes: 'or its exact bytes in base64',
        after: 'only names sorting after this one, byte order: its bytes %-encoded (any byte may be %XX, so a name that is not UTF-8 round-trips); give the Cairn-Next-After header of the previous page verbatim',
        afterBytes: "or that name's exact bytes in base64, as an entry's nameBytes gives them",
        limit: `entries in this page, 1 to ${LS_PAGE.max} (default ${LS_PAGE.default})`,
      },
      answers: 'the entries (LsEntryJson[]), at most limit; Cairn-Next-After when more follow',
      answerHeaders: {
        'Cairn-Next-After': "only when the listing was cut: the page's last name, its bytes %-encoded (every byte but A-Z a-z 0-9 - . _ ~ as %XX, so plain ASCII); send it verbatim as after= for the next page",
      },
      handle: async ({ params, query, caller, req, res }) => {
        const limit = queryCount(query, 'limit', LS_PAGE.default, LS_PAGE.max);
        const page = await lsSnapshot(ctx.db, params.id!, lsPath(query), caller!, { after: lsAfter(req.url ?? '', query), limit });
        if (page.nextAfter) res.setHeader(NEXT_AFTER_HEADER, percentEncode(page.nextAfter));
        return page.entries;
      },
    },
    {
      method: 'GET',
      path: '/api/jobs/:name/find',
      summary: "files whose base name matches a glob in a job's snapshots, newest snapshot first, from the catalog's file index",
      access: 'read',
      query: {
        name: 'the glob (required): * any run of characters, ? one, [abc] [a-z] one of a set, [!abc] one not in it, [*] a literal *; case-sensitive; matched against base names (no /)',
        limit: `at most this many matches, 1 to ${FIND_LIMIT} (default ${FIND_LIMIT})`,
      },
      answers: '{matches: FindMatchJson[], truncated}: truncated when more files matched than the limit',
      handle: async ({ params, query, caller }) => {
        const glob = query.get('name');
        if (glob === null) throw new CairnError('E_BAD_REQUEST', 'name is required: the glob to match base names against');
        return findInJob(ctx.db, caller!, params.name!, glob, queryCount(query, 'limit', FIND_LIMIT, FIND_LIMIT));
      },
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
        const queued = await queueRun(ctx, { jobId: jobRows[0]?.job_id ?? null, kind: 'restore', requestedLevel: null, agentId, storageId: num(snap.storage_id), pretreatment: stored });
        return ctx.hub.isOnline({ kind: 'agent', name: agentName }) ? queued : failOffline(ctx, queued.id, agentName, stored.request.to);
      },
    },
  ];
}

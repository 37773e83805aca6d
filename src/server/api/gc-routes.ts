// POST /api/gc: a garbage collection of one storage server, as a run of kind `gc` (no job, no
// agent) in the queue. Marking needs `operate`; a confirmation code (append-only storage) admin.
// An unknown or offline storage server is refused at once, nothing queued. A `user` may not.
import { CairnError } from '../../core/errors.ts';
import type { Schema } from '../../protocol/api-schema.ts';
import { partId, type ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import type { Scheduler } from '../scheduler.ts';

const gcBody: Schema = {
  type: 'object',
  properties: { storage: { type: 'string', minLength: 1, maxLength: 64 }, confirm: { type: 'string', minLength: 1, maxLength: 100 } },
  required: ['storage'],
};

export function gcRoutes(ctx: ServerContext, scheduler: Scheduler): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/gc',
      summary: 'collect the garbage of a storage server (a gc run; `confirm` frees what an append-only one marked)',
      access: 'operate',
      body: gcBody,
      handle: async ({ body, caller }) => {
        const { storage, confirm } = body as { storage: string; confirm?: string };
        // storage servers are shared: a `user` (who acts on what it owns) does not collect them
        if (caller!.role === 'user') throw new CairnError('E_FORBIDDEN', 'only an operator or admin may collect garbage');
        if (confirm !== undefined && caller!.role !== 'admin') throw new CairnError('E_FORBIDDEN', 'only an admin may confirm a gc');
        const id = await partId(ctx.db, 'storage', storage);
        if (!ctx.hub.isOnline({ kind: 'storage', name: storage })) throw new CairnError('E_UNAVAILABLE', `storage ${storage} is offline`);
        return scheduler.queueGc(id, confirm);
      },
    },
  ];
}

// Routes about the parts: enrollment tokens, agents and storage servers (list, show, remove).
import { CairnError } from '../../core/errors.ts';
import type { Schema } from '../../protocol/api-schema.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { createPartToken, getPart, listParts, removePart, setPart } from '../parts.ts';

const tokenBody: Schema = {
  type: 'object',
  properties: { kind: { type: 'string', enum: ['agent', 'storage', 'api'] }, ttlSeconds: { type: 'integer', minimum: 1, maximum: 30 * 86400 } },
  required: ['kind'],
};

export function partRoutes(ctx: ServerContext): Route[] {
  const routes: Route[] = [
    {
      method: 'POST',
      path: '/api/tokens',
      summary: 'a one-time enrollment token for an agent or storage server, or an API token for the caller',
      access: 'operate',
      body: tokenBody,
      handle: async ({ body, caller }) => {
        const { kind, ttlSeconds } = body as { kind: 'agent' | 'storage' | 'api'; ttlSeconds?: number };
        if (kind === 'api') {
          if (ttlSeconds !== undefined) throw new CairnError('E_BAD_REQUEST', 'ttlSeconds: an api token\'s lifetime is not supported yet');
          return { token: await ctx.accounts.createApiToken(caller!) };
        }
        if (kind === 'storage' && caller!.role !== 'admin') throw new CairnError('E_FORBIDDEN', 'only an admin may enroll storage servers');
        return { token: await createPartToken(ctx, caller!, kind, ttlSeconds === undefined ? undefined : ttlSeconds * 1000) };
      },
    },
  ];
  for (const kind of ['agent', 'storage'] as const) {
    const plural = `/api/${kind}s`;
    routes.push(
      { method: 'GET', path: plural, summary: `${kind}s with status, last seen, RTT, version, address`, access: 'read', handle: async ({ caller }) => listParts(ctx, kind, caller!) },
      { method: 'GET', path: `${plural}/:name`, summary: `one ${kind}`, access: 'read', handle: async ({ params, caller }) => getPart(ctx, kind, params.name!, caller!) },
      {
        method: 'PUT',
        path: `${plural}/:name`,
        summary: kind === 'agent' ? "set an agent's own limit of runs at once" : "set a storage server's own limit of runs at once, or its gc schedule ('' for none)",
        access: kind === 'agent' ? 'operate' : 'admin',
        body: {
          type: 'object',
          properties: { maxRuns: { type: 'integer', minimum: 1, maximum: 1000 }, ...(kind === 'storage' ? { gcSchedule: { type: 'string' as const, maxLength: 200 } } : {}) },
        },
        handle: async ({ params, body, caller }) => setPart(ctx, kind, params.name!, caller!, body as { maxRuns?: number; gcSchedule?: string }),
      },
      {
        method: 'DELETE',
        path: `${plural}/:name`,
        summary: `remove a ${kind}: its certificate is refused from then on`,
        access: 'admin',
        handle: async ({ params }) => {
          await removePart(ctx, kind, params.name!);
          return {};
        },
      },
    );
  }
  return routes;
}

// Routes about the parts: tokens (token-routes.ts), agents and storage servers (list, show, remove).
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { tokenRoutes } from './token-routes.ts';
import { getPart, listParts, removePart, setPart } from '../parts.ts';

export function partRoutes(ctx: ServerContext): Route[] {
  const routes: Route[] = tokenRoutes(ctx);
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

// Webhook alerts (admin only): POST /api/alerts adds one and answers its secret this once,
// GET /api/alerts lists them with their last delivery (never the secret), DELETE removes one
// with its waiting deliveries.
import { ALERT_EVENTS } from '../../protocol/alerts.ts';
import type { Schema } from '../../protocol/api-schema.ts';
import { addHook, listHooks, parseHookId, removeHook } from '../alert-hooks.ts';
import type { AlertCenter } from '../alerts.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';

const alertBody: Schema = {
  type: 'object',
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2048, description: 'an http or https URL' },
    events: { type: 'array', items: { type: 'string', enum: ALERT_EVENTS }, minItems: 1, maxItems: ALERT_EVENTS.length },
  },
  required: ['url', 'events'],
};

export function alertRoutes(ctx: ServerContext, alerts: AlertCenter): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/alerts',
      summary: 'add a webhook for some events (answers its signing secret, this once)',
      access: 'admin',
      body: alertBody,
      handle: async ({ body, caller }) => addHook(ctx.db, caller!, body as { url: string; events: string[] }),
    },
    { method: 'GET', path: '/api/alerts', summary: 'webhooks with their last delivery, pending and dropped counts', access: 'admin', handle: async () => listHooks(ctx.db) },
    {
      method: 'DELETE',
      path: '/api/alerts/:id',
      summary: 'remove a webhook (its waiting deliveries go)',
      access: 'admin',
      handle: async ({ params }) => {
        const id = parseHookId(params.id!);
        await removeHook(ctx.db, id);
        alerts.hookRemoved(id);
        return {};
      },
    },
  ];
}

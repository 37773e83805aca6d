// Routes about API tokens and who a token stands for: make one (or a one-time enrollment token:
// POST /api/tokens serves both kinds), list them, revoke one, and GET /api/me, which a console
// asks before it saves a token given to `cairn login --api-token-stdin`.
import { CairnError } from '../../core/errors.ts';
import { durationText } from '../../core/durations.ts';
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { API_TOKEN_PREFIX, TOKEN_TTL } from '../../protocol/api-token.ts';
import { allows } from '../auth/roles.ts';
import { csrfTokenOf, requestCredential } from '../auth/web-session.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { createPartToken } from '../parts.ts';

const tokenBody: Schema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['agent', 'storage', 'api'] },
    ttlSeconds: { type: 'integer', minimum: 1, maximum: TOKEN_TTL.api.max },
    name: { ...nameSchema, description: "an API token's name (default api); not for enrollment tokens" },
  },
  required: ['kind'],
};

function parseTokenId(text: string): number {
  const id = Number(text);
  if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(id) || id <= 0) throw new CairnError('E_NOT_FOUND', `no API token ${text.slice(0, 40)}`);
  return id;
}

/** The lifetime asked for, within the kind's longest (E_BAD_REQUEST naming it), else the kind's default; in ms. */
function ttlMs(kind: 'api' | 'enrollment', seconds: number | undefined): number {
  const limits = TOKEN_TTL[kind];
  if (seconds !== undefined && seconds > limits.max)
    throw new CairnError('E_BAD_REQUEST', `ttlSeconds: an ${kind === 'api' ? 'API' : 'enrollment'} token lives at most ${durationText(limits.max)}`);
  return (seconds ?? limits.default) * 1000;
}

export function tokenRoutes(ctx: ServerContext): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/tokens',
      summary: 'a one-time enrollment token for an agent (operate) or storage server (admin) (1 h, at most 30 d), or an API token for the caller, any role (90 d, at most 1 year)',
      access: 'read', // an auditor may script its reads with an API token; enrolling parts needs operate
      body: tokenBody,
      handle: async ({ body, caller }) => {
        const { kind, ttlSeconds, name } = body as { kind: 'agent' | 'storage' | 'api'; ttlSeconds?: number; name?: string };
        if (kind === 'api') return { token: await ctx.accounts.createApiToken(caller!, name ?? 'api', { ttlMs: ttlMs('api', ttlSeconds) }) };
        if (!allows(caller!.role, 'operate')) throw new CairnError('E_FORBIDDEN', `role ${caller!.role} may not POST /api/tokens`);
        if (name !== undefined) throw new CairnError('E_BAD_REQUEST', 'name: only an API token has a name');
        if (kind === 'storage' && caller!.role !== 'admin') throw new CairnError('E_FORBIDDEN', 'only an admin may enroll storage servers');
        return { token: await createPartToken(ctx, caller!, kind, ttlMs('enrollment', ttlSeconds)) };
      },
    },
    {
      method: 'GET',
      path: '/api/tokens',
      summary: "live API tokens (never the tokens themselves): the caller's own, everyone's for an admin",
      access: 'read',
      answers: '[{id, name, user, createdAt, expiresAt, lastUsed}]',
      handle: async ({ caller }) => ctx.accounts.listApiTokens(caller!),
    },
    {
      method: 'DELETE',
      path: '/api/tokens/:id',
      summary: "revoke an API token (the caller's own, any for an admin): refused from the next request on, its event streams ended",
      access: 'read',
      handle: async ({ params, caller }) => {
        ctx.events.end({ token: await ctx.accounts.revokeApiToken(caller!, parseTokenId(params.id!)) });
        return {};
      },
    },
    {
      method: 'GET',
      path: '/api/me',
      summary: 'who the bearer token (or session cookie) stands for, and whether it is a session or an API token; a cookie session also gets its csrf token',
      access: 'read',
      answers: '{user, role, kind: session|api, csrf?}',
      handle: async ({ req, caller }) => {
        const { token, viaCookie } = requestCredential(req);
        return {
          user: caller!.name,
          role: caller!.role,
          kind: token?.startsWith(API_TOKEN_PREFIX) ? 'api' : 'session',
          ...(viaCookie ? { csrf: csrfTokenOf(token!) } : {}),
        };
      },
    },
  ];
}

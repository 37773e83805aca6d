// Routes about people: users (admin only) and the audit log (auditors and admins).
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { auditFilter, listAudit } from '../audit.ts';
import { ROLES, type Role } from '../auth/roles.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';

const roleSchema: Schema = { type: 'string', enum: ROLES };
const userBody: Schema = {
  type: 'object',
  properties: { name: nameSchema, role: roleSchema, password: { type: 'string', minLength: 8, maxLength: 1024 } },
  required: ['name', 'role', 'password'],
};

const roleBody: Schema = { type: 'object', properties: { role: roleSchema }, required: ['role'] };

export function userRoutes(ctx: ServerContext): Route[] {
  return [
    // an auditor reads who holds which role (an access review); only an admin changes it
    { method: 'GET', path: '/api/users', summary: 'users and roles', access: 'audit', handle: async () => ctx.accounts.listUsers() },
    {
      method: 'POST',
      path: '/api/users',
      summary: 'add a user',
      access: 'admin',
      body: userBody,
      handle: async ({ body }) => {
        const b = body as { name: string; role: Role; password: string };
        const u = await ctx.accounts.createUser(b.name, b.role, b.password);
        return { name: u.name, role: u.role };
      },
    },
    {
      method: 'PATCH',
      path: '/api/users/:name',
      summary: "change a user's role (from the user's next request on; its open event streams end, to reopen with the new role)",
      access: 'admin',
      body: roleBody,
      handle: async ({ params, body }) => {
        const { role } = body as { role: Role };
        ctx.events.end({ user: await ctx.accounts.setRole(params.name!, role) });
        return { name: params.name!, role };
      },
    },
    {
      method: 'DELETE',
      path: '/api/users/:name',
      summary: 'remove a user: their sessions, API tokens and open event streams end at once',
      access: 'admin',
      handle: async ({ params }) => {
        ctx.events.end({ user: await ctx.accounts.removeUser(params.name!) });
        return {};
      },
    },
    {
      method: 'GET',
      path: '/api/audit',
      summary: 'the audit log, newest first',
      access: 'audit',
      query: { since: 'entries at or after this ISO 8601 time', user: 'entries by this user (or `scheduler`)', limit: 'at most this many (default 1000)' },
      handle: async ({ query }) => listAudit(ctx.db, { limit: 1000, ...auditFilter(query) }),
    },
  ];
}

// Routes about people: users (admin only) and the audit log (auditors and admins).
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { auditFilter, listAudit } from '../audit.ts';
import type { Role } from '../auth/roles.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';

const userBody: Schema = {
  type: 'object',
  properties: { name: nameSchema, role: { type: 'string', enum: ['admin', 'operator', 'user', 'auditor'] }, password: { type: 'string', minLength: 8, maxLength: 1024 } },
  required: ['name', 'role', 'password'],
};

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

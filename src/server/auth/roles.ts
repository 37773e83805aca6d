// Who may do what: the four roles of people and the access level each route asks for
// (route-spec.ts). Ownership (a user acts only on what they own) is checked by the routes,
// which know what a request touches; this module only answers "may this role reach that level".
import { PERSON_ROLES, type PersonRole } from '../../protocol/people.ts';
import type { Access } from '../http/route-spec.ts';

export type { Access };

export const ROLES = PERSON_ROLES;
export type Role = PersonRole;

const GRANTS: Record<Role, readonly Access[]> = {
  admin: ['public', 'read', 'operate', 'admin', 'audit'],
  operator: ['public', 'read', 'operate'],
  user: ['public', 'read', 'operate'], // on what they own: the routes check ownership
  auditor: ['public', 'read', 'audit'],
};

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** admin: everything; operator: read + operate; user: read + operate (on what they own); auditor: read + audit. */
export function allows(role: Role, access: Access): boolean {
  return GRANTS[role].includes(access);
}

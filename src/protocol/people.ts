// People as consoles see them: users with their roles (`user list`) and audit log entries
// (`cairn audit`). Shared by the server, which answers them, and the web console.

/** The four roles of people (the server's auth/roles.ts decides what each may do). */
export const PERSON_ROLES = ['admin', 'operator', 'user', 'auditor'] as const;
export type PersonRole = (typeof PERSON_ROLES)[number];

export type UserJson = { name: string; role: PersonRole; createdAt: string };

/** One audit entry: `what` is `METHOD /path` (or what the scheduler did), `result` `ok` or an error code. */
export type AuditRecordJson = { time: string; who: string; what: string; result: string; address: string | null; action: string | null; target: string | null };

// Who may call each REST route, written by hand from SPEC.md ("Security subsystem", Roles) and
// NOT derived from the route table's own `access` field (a test reading that would prove
// nothing). test/route-roles.test.ts calls every route of /api/openapi.json as each caller and
// checks the answer against this table; a route missing here, or an entry the document lacks,
// fails it, so every new route needs a decision written down here.
//
// SPEC.md: `admin` everything; `operator` runs and restores any job, no user management;
// `user` only the agents and jobs (and so vaults, runs, snapshots) it owns; `auditor`
// read-only, and the audit log is its work. Read from that where SPEC.md is not explicit:
// - storage servers are shared: a `user` sees them, but their settings, their gc, a net test
//   through them and their enrollment are for operators (gc, net test) or admins (settings,
//   enrollment, removal);
// - removing a part revokes its certificate everywhere: admin only;
// - webhooks (their URLs are often credentials themselves) and catalog rebuilds: admin only;
// - an auditor reads everything an operator reads plus the audit log and the users and roles
//   (an access review is an audit), and may make, list and revoke its own API tokens (to script
//   `cairn audit`), but changes nothing else;
// - a `user` naming another owner's agent, job, vault, run or snapshot gets 404 as if it did not
//   exist (its existence must not leak), never 403.

export const PEOPLE = ['admin', 'operator', 'user', 'auditor'] as const;
export type Person = (typeof PEOPLE)[number];
/** The callers: no credentials, each role (the `user` on its own objects), and a `user` on another user's objects. */
export const CALLERS = ['anonymous', 'auditor', 'other', 'user', 'operator', 'admin'] as const;
export type Who = (typeof CALLERS)[number];

export type Rule = {
  /**
   * Who may call it: `anyone` (no credentials needed), `part` (a part's client certificate:
   * people, whatever their role, are 401), or the roles allowed.
   */
  may: 'anyone' | 'part' | readonly Person[];
  /** a `user` on another user's object: 404 (existence must not leak); absent: the route names nothing owned, so the other user is answered as the owner */
  other?: 404;
  /** the 4xx an allowed caller gets for a reason other than access (rare: say why) */
  conflict?: { status: number; why: string };
};

const ALL: readonly Person[] = PEOPLE;
const OPERATE: readonly Person[] = ['admin', 'operator', 'user'];
const STAFF: readonly Person[] = ['admin', 'operator'];
const ADMIN: readonly Person[] = ['admin'];
const AUDIT: readonly Person[] = ['admin', 'auditor'];

/** `METHOD /path/:param` (a ` [variant]` suffix: the same route with another body), in the order they are called. */
export const RULES: Record<string, Rule> = {
  'GET /api/health': { may: 'anyone' },
  'GET /api/ca.pem': { may: 'anyone' },
  'GET /api/openapi.json': { may: 'anyone' },
  'POST /api/login': { may: 'anyone' },
  'POST /api/enroll': { may: 'anyone' }, // whoever holds a one-time token
  'POST /api/renewed': { may: 'part' },
  'POST /api/logout': { may: ALL },
  'GET /api/me': { may: ALL },
  'GET /api/events': { may: ALL, other: 404 }, // one run's events
  'GET /api/events [all]': { may: ALL }, // a user's stream shows its own runs and agents only
  'GET /api/status': { may: ALL },
  'POST /api/tokens': { may: OPERATE }, // an agent enrollment token: a user enrolls its own agents
  'POST /api/tokens [api]': { may: ALL },
  'POST /api/tokens [storage]': { may: ADMIN },
  'GET /api/tokens': { may: ALL },
  'DELETE /api/tokens/:id': { may: ALL, other: 404 },

  'GET /api/agents': { may: ALL },
  'GET /api/agents/:name': { may: ALL, other: 404 },
  'PUT /api/agents/:name': { may: OPERATE, other: 404 },
  'DELETE /api/agents/:name': { may: ADMIN },
  'GET /api/storages': { may: ALL },
  'GET /api/storages/:name': { may: ALL },
  'PUT /api/storages/:name': { may: ADMIN },
  'DELETE /api/storages/:name': { may: ADMIN },

  'GET /api/vaults': { may: ALL },
  'GET /api/vaults/:name': { may: ALL, other: 404 },
  'POST /api/vaults': { may: OPERATE },
  'PUT /api/vaults/:name/agents/:agent': { may: OPERATE, other: 404 },
  'PUT /api/vaults/:name/key-file': { may: OPERATE, other: 404 },
  'POST /api/vaults/:name/scrub': { may: OPERATE, other: 404 },

  'GET /api/jobs': { may: ALL },
  'POST /api/jobs': { may: OPERATE, other: 404 }, // naming another owner's agent and vault
  'GET /api/jobs/:name': { may: ALL, other: 404 },
  'GET /api/jobs/:name/find': { may: ALL, other: 404 },
  'PATCH /api/jobs/:name': { may: OPERATE, other: 404 },
  'DELETE /api/jobs/:name': { may: OPERATE, other: 404 },
  'POST /api/jobs/:name/runs': { may: OPERATE, other: 404 },
  'POST /api/jobs/:name/estimate': { may: OPERATE, other: 404 },
  'POST /api/jobs/:name/forget': { may: OPERATE, other: 404 },
  'GET /api/runs': { may: ALL, other: 404 }, // filtered by another owner's job
  'GET /api/runs/:id': { may: ALL, other: 404 },
  'GET /api/runs/:id/log': { may: ALL, other: 404 },
  'POST /api/runs/:id/cancel': { may: OPERATE, other: 404 },

  'GET /api/snapshots': { may: ALL, other: 404 }, // filtered by another owner's job
  'GET /api/snapshots [agent]': { may: ALL, other: 404 }, // filtered by another owner's agent
  'GET /api/snapshots/:id': { may: ALL, other: 404 },
  'GET /api/snapshots/:id/ls': { may: ALL, other: 404 },
  'POST /api/snapshots/:id/forget': { may: OPERATE, other: 404 },
  'POST /api/restores': { may: OPERATE, other: 404 },
  'POST /api/verifies': { may: OPERATE, other: 404 },
  'POST /api/gc': { may: STAFF },
  'POST /api/gc [confirm]': { may: ADMIN },

  'GET /api/net/status': { may: ALL },
  'GET /api/net/history': { may: ALL, other: 404 }, // of another owner's agent
  'GET /api/net/throughput': { may: ALL, other: 404 }, // of another owner's agent
  'POST /api/net/test': { may: STAFF }, // up to 1 GiB through a shared storage server, nothing backed up

  'GET /api/users': { may: AUDIT },
  'POST /api/users': { may: ADMIN },
  'PATCH /api/users/:name': { may: ADMIN },
  'DELETE /api/users/:name': { may: ADMIN },
  'GET /api/audit': { may: AUDIT },
  'POST /api/alerts': { may: ADMIN },
  'GET /api/alerts': { may: ADMIN },
  'DELETE /api/alerts/:id': { may: ADMIN },

  'GET /api/storages/:name/vaults/:vault': { may: ADMIN },
  'POST /api/vaults/adopt': { may: ADMIN, conflict: { status: 409, why: 'the vault asked for is in the catalog: adopting is for a catalog that lost it' } },
  'GET /api/rebuilds/:id': { may: ADMIN },
  'POST /api/rebuilds': { may: ADMIN },
};

export type Expected = { allowed: true } | { allowed: false; status: 401 | 403 | 404 };

/** What `who` must get from the route of `rule`. */
export function expected(rule: Rule, who: Who): Expected {
  if (rule.may === 'anyone') return { allowed: true };
  if (who === 'anonymous' || rule.may === 'part') return { allowed: false, status: 401 };
  const role: Person = who === 'other' ? 'user' : who;
  if (!rule.may.includes(role)) return { allowed: false, status: 403 };
  if (who === 'other' && rule.other !== undefined) return { allowed: false, status: rule.other };
  return { allowed: true };
}

/** The route a table key is about: `POST /api/tokens [api]` is `POST /api/tokens`. */
export function routeOf(key: string): string {
  return key.replace(/ \[[a-z]+\]$/, '');
}

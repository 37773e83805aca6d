// Routes anyone may call (health, the CA certificate, the API document, login, enrollment) and
// the console event stream.
import { TOKEN_PREFIX } from '../../protocol/enrollment-token.ts';
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import type { ServerContext } from '../context.ts';
import { getRun, liveProgressEvents, parseRunId } from '../runs.ts';
import { followFrom, runLogQueue } from '../run-log.ts';
import { CairnError } from '../../core/errors.ts';
import type { EventFilter } from '../http/events.ts';
import { type Caller, tokenKey } from '../auth/accounts.ts';
import { clearedSessionCookie, csrfTokenOf, requestCredential, sessionCookie } from '../auth/web-session.ts';
import { openApiDocument } from '../http/openapi.ts';
import { type Route, TAKEN } from '../http/router.ts';
import { renewedCertificate } from '../cert-renewal.ts';
import { type EnrollRequest, enroll } from '../parts.ts';

const loginBody: Schema = {
  type: 'object',
  properties: {
    user: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    cookie: { type: 'boolean', description: 'a browser: the session goes in an HttpOnly cookie, and the answer carries the csrf token instead of the session token' },
  },
  required: ['user', 'password'],
};

const enrollBody: Schema = {
  type: 'object',
  properties: {
    token: { type: 'string', pattern: `^${TOKEN_PREFIX.replace('.', '\\.')}`, maxLength: 4096 },
    name: nameSchema,
    csr: { type: 'string', maxLength: 16384 },
    publicKey: { type: 'string', maxLength: 4096 },
    hosts: { type: 'array', items: { type: 'string', maxLength: 255 }, maxItems: 16, description: 'ignored (older storage servers send their listen host): part certificates name no hosts' },
    version: { type: 'string', maxLength: 64 },
    previous: {
      type: 'object',
      description: 're-enrollment of a part enrolled under this name: its enrolled certificate and its key\'s signature of "cairn-reenroll\\n" + csr (base64)',
      properties: { certificate: { type: 'string', maxLength: 16384 }, signature: { type: 'string', maxLength: 1024 } },
      required: ['certificate', 'signature'],
    },
  },
  required: ['token', 'name', 'csr'],
};

const renewedBody: Schema = { type: 'object', properties: { csr: { type: 'string', maxLength: 16384 } }, required: ['csr'] };

/** How often a `user`'s stream may look its agents up again (an agent it enrolled since it opened). */
const OWNED_AGENTS_RELOAD_MS = 10_000;

/**
 * What a console's unfiltered stream shows: everything to operators and admins; to a `user`, the
 * runs of its own jobs, its own agents and the storage servers. The user's agents are read when
 * the stream opens; an event of an agent not among them reads them again (at most every 10 s), so
 * an agent enrolled meanwhile shows from its next event on.
 */
async function eventAccess(ctx: ServerContext, caller: Caller): Promise<EventFilter | undefined> {
  if (caller.role !== 'user') return undefined;
  const owned = async () => new Set((await ctx.db.query<{ name: string }>('SELECT name FROM agents WHERE owner_id = ? AND removed_at IS NULL', [caller.id])).map((r) => r.name));
  let agents = await owned();
  let readAt = Date.now();
  return (type, data, owner) => {
    if (type !== 'part') return owner === caller.id;
    const part = data as { kind?: string; name?: string };
    if (part.kind === 'storage') return true;
    if (part.kind !== 'agent') return false;
    if (agents.has(part.name ?? '')) return true;
    if (Date.now() - readAt > OWNED_AGENTS_RELOAD_MS) {
      readAt = Date.now();
      void owned().then((names) => (agents = names), () => undefined);
    }
    return false;
  };
}

export function sessionRoutes(ctx: ServerContext, allRoutes: () => readonly Route[]): Route[] {
  return [
    { method: 'GET', path: '/api/health', summary: 'is the server up', access: 'public', handle: async () => ({ ok: true, version: ctx.version }) },
    {
      method: 'GET',
      path: '/api/ca.pem',
      summary: "the server CA's certificate (check its fingerprint before trusting it)",
      access: 'public',
      handle: async () => ({ contentType: 'application/x-pem-file', body: ctx.ca.certPem }),
    },
    {
      method: 'GET',
      path: '/api/openapi.json',
      summary: 'this document',
      access: 'public',
      handle: async () => openApiDocument(allRoutes(), { version: ctx.version }),
    },
    {
      method: 'POST',
      path: '/api/login',
      summary: 'log in; answers a session token for Authorization: Bearer (or, with cookie: true, sets it as an HttpOnly cookie and answers the csrf token)',
      access: 'public',
      body: loginBody,
      handle: async ({ body, remoteAddress, res }) => {
        const { user, password, cookie } = body as { user: string; password: string; cookie?: boolean };
        const session = await ctx.limiter.attempt(user, remoteAddress, () => ctx.accounts.login(user, password));
        if (!cookie) return session;
        const { token, ...rest } = session;
        res.setHeader('set-cookie', sessionCookie(token, Date.parse(session.expiresAt)));
        return { ...rest, csrf: csrfTokenOf(token) };
      },
    },
    {
      method: 'POST',
      path: '/api/logout',
      summary: 'end this session (and the event streams it opened)',
      access: 'read',
      handle: async ({ req, res }) => {
        const credential = requestCredential(req);
        const ended = await ctx.accounts.logout(credential.token ?? '');
        if (ended !== undefined) ctx.events.end({ token: ended });
        if (credential.viaCookie) res.setHeader('set-cookie', clearedSessionCookie());
        return {};
      },
    },
    {
      method: 'POST',
      path: '/api/enroll',
      summary: 'a part exchanges its one-time token and CSR for a certificate',
      access: 'public',
      body: enrollBody,
      handle: async ({ body }) => enroll(ctx, body as EnrollRequest),
    },
    {
      method: 'POST',
      path: '/api/renewed',
      summary: "a part whose renewal answer was lost fetches the certificate issued for its CSR (with its previous certificate)",
      access: 'public',
      body: renewedBody,
      handle: async ({ body, req }) => renewedCertificate(ctx, req, (body as { csr: string }).csr),
    },
    {
      method: 'GET',
      path: '/api/events',
      summary:
        "server-sent events for consoles: run, progress, part, log (a run's new log line: {run, seq, time, level, part, message}, SSE id seq) (a user: its own runs and agents, and storage servers); each running run's last progress first. With run: that run's events only, its log lines after `after` (or Last-Event-ID) first, and log-end {run, seq} once its log is complete",
      access: 'read',
      query: { run: 'only events of this run', after: "with run: the log lines it has already (the stream starts at line after + 1; default 0, the whole log)" },
      handle: async ({ req, res, query, caller }) => {
        const asked = query.get('run');
        const run = asked === null ? undefined : parseRunId(asked);
        const owner = { user: caller!.id, token: tokenKey(requestCredential(req).token) };
        if (run === undefined) {
          if (query.get('after') !== null) throw new CairnError('E_BAD_REQUEST', 'after needs run: it counts the lines of one run\'s log');
          ctx.events.attach(req, res, await eventAccess(ctx, caller!), liveProgressEvents(), owner);
          return TAKEN;
        }
        const header = req.headers['last-event-id'];
        const from = followFrom(typeof header === 'string' ? header : undefined, query.get('after'));
        await getRun(ctx.db, run, caller); // unknown, or not the caller's: 404
        const filter = (type: string, data: unknown) => type !== 'part' && (type === 'log' || type === 'log-end' ? (data as { run?: number }).run : (data as { id?: number }).id) === run;
        // its last progress, then the log lines it missed (log-end too when the log is complete)
        await runLogQueue(ctx).follow(run, from, (lines) => ctx.events.attach(req, res, filter, [...liveProgressEvents().filter((e) => filter(e.type, e.data)), ...lines], owner));
        return TAKEN;
      },
    },
  ];
}

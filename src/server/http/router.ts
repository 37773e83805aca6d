// The REST router: matches a request to its route, reads and checks the JSON body against the
// route's schema (the one place fields are validated), authenticates the caller and checks the
// route's access level, runs the handler and writes the answer. Every non-GET request and every
// refusal (401/403/404/429, any method) is in the audit log: a change is written BEFORE its
// handler acts (result `started`; when that write fails the request is answered 503 and nothing
// is done) and that same row's result is updated after; a request refused before that point gets
// one row with its error code. Failures become {error:{code,message}} with the code's HTTP
// status: bad input is a 4xx, never a 5xx.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CairnError, httpStatusOf, TooManyError } from '../../core/errors.ts';
import { checkBody } from '../../protocol/api-schema.ts';
import type { Caller } from '../auth/accounts.ts';
import { csrfMatches, requestCredential } from '../auth/web-session.ts';
import { auditTarget } from './audit-target.ts';
import type { RouteSpec } from './route-spec.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export type RequestContext = {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  /** the person calling (undefined on public routes) */
  caller: Caller | undefined;
  remoteAddress: string;
};

/** A handler's answer: a JSON value, raw bytes with a type, or TAKEN when it wrote the response itself. */
export const TAKEN = Symbol('response taken');
export type Raw = { contentType: string; body: string | Buffer };
export type Route = RouteSpec & { handle: (ctx: RequestContext) => Promise<unknown> };

export type RouterHooks = {
  authenticate(bearer: string | undefined): Promise<Caller>;
  allows(caller: Caller, access: RouteSpec['access']): boolean;
  /** writes an audit entry and answers its id; throws when it cannot */
  audit(entry: RouterAuditEntry): Promise<number>;
  /** sets the result (and, after a login, who) of an entry written before its request acted */
  finishAudit(id: number, result: string, who?: string): Promise<void>;
  /** each request answered: its method, route pattern (not the raw URL; `unmatched` when none), status and seconds taken (metrics) */
  observe?(method: string, route: string, code: number, seconds: number): void;
};

export type RouterAuditEntry = { who: string; what: string; result: string; address: string; action: string; target: string };

/** Refusals audited whatever the method: unauthenticated, forbidden, not found (or hidden), throttled. */
const REFUSED = new Set([401, 403, 404, 429]);
/** Written as the result of an entry before its request acts. */
const STARTED = 'started';

type Compiled = { route: Route; pattern: RegExp; names: string[] };

function compile(route: Route): Compiled {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((seg) => {
      if (!seg.startsWith(':')) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(seg.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new CairnError('E_TOO_LARGE', `request body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new CairnError('E_TOO_LARGE', `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CairnError('E_BAD_REQUEST', 'request body is not valid JSON');
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
}

function sendError(res: ServerResponse, e: unknown): void {
  const status = httpStatusOf(e);
  const err = e instanceof CairnError ? e : new CairnError('E_INTERNAL', 'internal error');
  const headers: Record<string, string> = e instanceof TooManyError ? { 'retry-after': String(e.retryAfterSeconds) } : {};
  if (!res.headersSent) sendJson(res, status, { error: { code: err.code, message: err.message } }, headers);
  else res.destroy();
}

export class Router {
  readonly routes: readonly Route[];
  readonly #compiled: Compiled[];
  readonly #hooks: RouterHooks;
  readonly #log: (line: string) => void;

  constructor(routes: Route[], hooks: RouterHooks, log: (line: string) => void) {
    this.routes = routes;
    this.#compiled = routes.map(compile);
    this.#hooks = hooks;
    this.#log = log;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let route: Route | undefined;
    try {
      await this.#handle(req, res, (r) => (route = r));
    } finally {
      this.#hooks.observe?.(req.method ?? 'GET', route?.path ?? 'unmatched', res.statusCode, (performance.now() - started) / 1000);
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse, matched: (route: Route) => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://cairn.invalid');
    const method = req.method ?? 'GET';
    let caller: Caller | undefined;
    let route: Route | undefined;
    let params: Record<string, string> = {};
    let body: unknown;
    /** the row written before the handler acted, once it is */
    let entry: number | undefined;
    let auditDown = false;
    // read now: a connection the client broke off mid-body has no socket by the time it is audited
    const address = req.socket?.remoteAddress ?? '';
    const describe = (result: string): RouterAuditEntry => ({
      who: caller?.name ?? 'anonymous',
      what: `${method} ${url.pathname}`,
      result,
      address,
      action: route ? `${method} ${route.path}` : 'unmatched',
      target: auditTarget(params, body),
    });
    try {
      let pathMatched = false;
      for (const c of this.#compiled) {
        const m = c.pattern.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (c.route.method !== method) continue;
        route = c.route;
        matched(route);
        params = Object.fromEntries(c.names.map((n, i) => [n, decodeSegment(m[i + 1]!)]));
        break;
      }
      if (!route) {
        req.resume();
        throw pathMatched
          ? new CairnError('E_BAD_REQUEST', `${method} is not allowed on ${url.pathname}`)
          : new CairnError('E_NOT_FOUND', `no such API route: ${method} ${url.pathname}`);
      }
      if (route.access !== 'public') {
        const credential = requestCredential(req);
        caller = await this.#hooks.authenticate(credential.token);
        // the browser sends its cookie on any site's request: a change needs the header only the console can send
        if (credential.viaCookie && method !== 'GET' && !csrfMatches(req, credential.token!))
          throw new CairnError('E_FORBIDDEN', `${method} ${route.path} with the session cookie needs the X-CSRF-Token header the login answered`);
        if (!this.#hooks.allows(caller, route.access))
          throw new CairnError('E_FORBIDDEN', `role ${caller.role} may not ${method} ${route.path}`);
      }
      const raw = method === 'GET' || method === 'DELETE' ? (req.resume(), undefined) : await readBody(req);
      body = raw;
      body = route.body ? checkBody(route.body, raw ?? {}) : raw;
      if (method !== 'GET') {
        try {
          entry = await this.#hooks.audit(describe(STARTED));
        } catch (e) {
          auditDown = true;
          this.#log(`audit log write failed, ${method} ${url.pathname} refused: ${(e as Error).message}`);
          throw new CairnError('E_UNAVAILABLE', 'the audit log cannot be written: nothing was done; try again later');
        }
      }
      const ctx: RequestContext = {
        req,
        res,
        params,
        query: url.searchParams,
        body,
        caller,
        remoteAddress: address,
      };
      const answer = await route.handle(ctx);
      // a login names who logged in; before it the caller is anonymous
      if (entry !== undefined) await this.#finish(entry, 'ok', route.path === '/api/login' ? loginName(answer) : undefined);
      if (answer === TAKEN) return;
      if (isRaw(answer)) {
        res.writeHead(200, { 'content-type': answer.contentType, 'cache-control': 'no-store' });
        res.end(answer.body);
        return;
      }
      sendJson(res, method === 'POST' && route.path !== '/api/login' ? 201 : 200, answer ?? {});
    } catch (e) {
      if (!(e instanceof CairnError)) this.#log(`error in ${method} ${url.pathname}: ${(e as Error)?.stack ?? String(e)}`);
      const code = e instanceof CairnError ? e.code : 'E_INTERNAL';
      if (entry !== undefined) await this.#finish(entry, code);
      else if (!auditDown && (method !== 'GET' || REFUSED.has(httpStatusOf(e)))) {
        await this.#hooks.audit(describe(code)).catch((err: unknown) => this.#log(`audit log write failed: ${(err as Error).message}`));
      }
      sendError(res, e);
    }
  }

  async #finish(id: number, result: string, who?: string): Promise<void> {
    await this.#hooks.finishAudit(id, result, who).catch((e: unknown) => {
      this.#log(`audit log update failed: ${(e as Error).message}`);
    });
  }
}

function loginName(answer: unknown): string | undefined {
  const user = typeof answer === 'object' && answer !== null ? (answer as { user?: unknown }).user : undefined;
  return typeof user === 'string' ? user : undefined;
}

/** A path segment's text; a malformed %-escape is the caller's mistake (400), not a server error. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new CairnError('E_BAD_REQUEST', `malformed %-escape in the path segment ${segment.slice(0, 80)}`);
  }
}

function isRaw(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && 'contentType' in v && 'body' in v;
}

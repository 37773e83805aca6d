// The console's client for the backup server's REST API: JSON over HTTPS (TLS 1.3) trusting only
// the server's CA and checking that the peer is `cairn-server:server` (the CA pin and the name are
// the identity, not the host name) — or, logged in with a site's CA (`server start --web-cert`),
// checking the host name as a browser does (core/tls.ts consoleTlsOptions) — a bearer token, and
// the server's `{error:{code,message}}` answers turned back into the CairnError they started as.
import { appendFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { CairnError, ERROR_CODES, type ErrorCode } from '../core/errors.ts';
import { certificateFingerprint, consoleTlsOptions, normalizeFingerprint, TLS_MIN_VERSION } from '../core/tls.ts';
import { testFile } from '../core/test-settings.ts';
import { EventStreamParser, type ServerEvent } from './event-stream.ts';
import { type LoginConfig, loadLogin, loginConfigPath } from './login-config.ts';

/** Largest answer read (a listing of a huge directory is the largest). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
const ANSWER_TIMEOUT_MS = 120_000;
/** An event stream silent this long is taken as lost (the server pings every 15 s). */
const STREAM_IDLE_MS = 50_000;
/** Network failures that mean "no server there", as opposed to a TLS or protocol problem. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);

export type ApiClientOptions = { server: string; ca: string; token?: string; user?: string };

/** An open event stream: its events as they come (ending with E_UNAVAILABLE when the stream is lost); close() ends it. */
export type EventStream = { events: AsyncIterable<ServerEvent>; close(): void };

/** Tests (CAIRN_TEST_REQUEST_LOG_FILE): each request's method and path, one line each, to show what a console asked. */
function noteRequest(method: string, path: string): void {
  const file = testFile('REQUEST_LOG');
  if (file !== undefined) appendFileSync(file, `${method} ${path}\n`);
}

/** The server URL as people type it, reduced to its origin; E_USAGE unless it is https. */
export function normalizeServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CairnError('E_USAGE', `not a server URL: ${text}`); // URL's own message repeats the input
  }
  if (url.protocol !== 'https:') throw new CairnError('E_USAGE', `the server URL must start with https:// (got ${text})`);
  return url.origin;
}

/** `path` with the defined query parameters appended. */
export function withQuery(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

/** The CairnError an error answer stands for (its code when known, else E_INTERNAL). */
export function apiErrorOf(status: number, bodyText: string, server: string): CairnError {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    body = undefined; // not JSON: described by the status below
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const message = typeof error?.message === 'string' && error.message !== '' ? error.message : undefined;
  const code = typeof error?.code === 'string' && Object.hasOwn(ERROR_CODES, error.code) ? (error.code as ErrorCode) : undefined;
  if (message !== undefined && code !== undefined) {
    // a bad request is never the console's own usage error: keep exit status 1 for it
    return new CairnError(code === 'E_USAGE' ? 'E_BAD_REQUEST' : code, message);
  }
  const detail = message ?? bodyText.slice(0, 200).split('\n')[0];
  return new CairnError('E_INTERNAL', `the backup server at ${server} answered HTTP ${status}${detail ? `: ${detail}` : ''}`);
}

function transportError(e: unknown, server: string): CairnError {
  if (e instanceof CairnError) return e; // the identity check's own sentence
  const err = e as NodeJS.ErrnoException;
  if (err?.code !== undefined && UNREACHABLE.has(err.code))
    return new CairnError('E_UNAVAILABLE', `cannot reach the backup server at ${server}`, { cause: e });
  if (typeof err?.code === 'string' && /CERT|SIGNATURE|ISSUER|SELF_SIGNED|TLS/.test(err.code))
    return new CairnError('E_UNAUTHORIZED', `the server at ${server} is not the trusted backup server: ${err.message}`, { cause: e });
  return new CairnError('E_UNAVAILABLE', `backup server at ${server}: ${err?.message ?? String(e)}`, { cause: e });
}

type Answer = { status: number; text: string; headers: http.IncomingHttpHeaders };

/** One HTTPS exchange; the answer's body is read whole (bounded). */
function exchange(url: URL, options: https.RequestOptions, body: string | undefined, server: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) {
          req.destroy(new CairnError('E_TOO_LARGE', `the backup server's answer is larger than ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', (e) => reject(transportError(e, server)));
    });
    req.setTimeout(ANSWER_TIMEOUT_MS, () =>
      req.destroy(new CairnError('E_UNAVAILABLE', `the backup server at ${server} did not answer in ${ANSWER_TIMEOUT_MS / 1000} s`)),
    );
    req.on('error', (e) => reject(transportError(e, server)));
    req.end(body);
  });
}

/**
 * The server's CA fetched over a connection not yet trusted, accepted only when its SHA-256
 * (of the DER bytes) is `fingerprint`; from then on it is the one root trusted.
 */
export async function fetchServerCa(serverUrl: string, fingerprint: string): Promise<string> {
  let want: string;
  try {
    want = normalizeFingerprint(fingerprint);
  } catch (e) {
    throw new CairnError('E_USAGE', `--fingerprint: ${(e as Error).message}`);
  }
  const server = normalizeServerUrl(serverUrl);
  const tls: ConnectionOptions = { minVersion: TLS_MIN_VERSION, rejectUnauthorized: false }; // checked by fingerprint below
  const answer = await exchange(new URL('/api/ca.pem', server), { method: 'GET', ...tls, agent: false }, undefined, server);
  if (answer.status !== 200) throw apiErrorOf(answer.status, answer.text, server);
  let got: string;
  try {
    got = certificateFingerprint(answer.text);
  } catch {
    throw new CairnError('E_UNAUTHORIZED', `${server}/api/ca.pem is not a certificate`);
  }
  if (got !== want) throw new CairnError('E_UNAUTHORIZED', `the server's CA has fingerprint ${got}, not the expected ${want}`);
  return answer.text;
}

export class ApiClient {
  readonly server: string;
  readonly user: string | undefined;
  readonly #token: string | undefined;
  readonly #agent: https.Agent;

  constructor(options: ApiClientOptions) {
    this.server = normalizeServerUrl(options.server);
    this.user = options.user;
    this.#token = options.token;
    // one kept-alive connection for a console's run of requests (polls every 300 ms)
    this.#agent = new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      ...consoleTlsOptions(options.ca),
    });
  }

  /** A client for the saved login (E_USAGE when not logged in). */
  static async fromLogin(file: string = loginConfigPath()): Promise<ApiClient> {
    const login: LoginConfig = await loadLogin(file);
    return new ApiClient(login);
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return (await this.#request<T>(method, path, body)).value;
  }

  /** A GET's answer with the headers it came with (a paged listing's next-page header). */
  getWithHeaders<T>(path: string): Promise<{ value: T; headers: http.IncomingHttpHeaders }> {
    return this.#request<T>('GET', path);
  }

  async #request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<{ value: T; headers: http.IncomingHttpHeaders }> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (text !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(text));
    }
    noteRequest(method, path);
    const answer = await exchange(new URL(path, this.server), { method, headers, agent: this.#agent }, text, this.server);
    if (answer.status < 200 || answer.status > 299) throw apiErrorOf(answer.status, answer.text, this.server);
    if (answer.text === '') return { value: {} as T, headers: answer.headers };
    try {
      return { value: JSON.parse(answer.text) as T, headers: answer.headers };
    } catch {
      throw new CairnError('E_INTERNAL', `the backup server at ${this.server} answered ${method} ${path} with something that is not JSON`);
    }
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * Opens the server's event stream at `path` (GET /api/events…); resolves once the server has
   * taken the console on, so nothing published from then on is missed.
   */
  openEvents(path: string): Promise<EventStream> {
    noteRequest('GET', path);
    const server = this.server;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, server), { method: 'GET', headers, agent: this.#agent }, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(apiErrorOf(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), server)));
          return;
        }
        res.setEncoding('utf8');
        const parser = new EventStreamParser();
        async function* events(): AsyncGenerator<ServerEvent> {
          try {
            for await (const text of res as AsyncIterable<string>) yield* parser.push(text);
          } catch (e) {
            throw transportError(e, server);
          }
          throw new CairnError('E_UNAVAILABLE', `the backup server at ${server} closed the event stream`);
        }
        resolve({ events: events(), close: () => req.destroy() });
      });
      req.setTimeout(STREAM_IDLE_MS, () => req.destroy(new CairnError('E_UNAVAILABLE', `the event stream of ${server} went quiet for ${STREAM_IDLE_MS / 1000} s`)));
      req.on('error', (e) => reject(transportError(e, server)));
      req.end();
    });
  }

  /** Closes kept-alive connections so the process can exit at once. */
  close(): void {
    this.#agent.destroy();
  }
}

/** `encodeURIComponent` for a name or id placed in a route path. */
export const seg = encodeURIComponent;

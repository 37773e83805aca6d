// The console's one door to the server: the public REST API (the routes the CLI uses) with the
// session cookie the login set. A request that changes something carries the CSRF token the login
// (or GET /api/me) answered; a 401 anywhere means the session is over, and the app returns to the
// login page. Errors keep the server's code and sentence, shown as they are.
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrfToken: string | undefined;
let onSessionEnd: (() => void) | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called once per ended session (a 401 answer). */
export function whenSessionEnds(callback: () => void): void {
  onSessionEnd = callback;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `onHeaders` sees the answer's headers (a paged listing's Cairn-Next-After). */
export async function api<T>(method: Method, path: string, body?: unknown, opts: { signal?: AbortSignal; onHeaders?: (h: Headers) => void } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401 && path !== '/api/login') onSessionEnd?.();
    throw new ApiError(res.status, err?.code ?? `HTTP ${res.status}`, err?.message ?? `${method} ${path} answered HTTP ${res.status}`);
  }
  opts.onHeaders?.(res.headers);
  return json as T;
}

/** A path with its query string (values encoded). */
export function withQuery(path: string, query: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

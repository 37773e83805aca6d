// The browser's session: the same session token a password login makes, carried in an HttpOnly,
// Secure, SameSite=Strict cookie instead of an Authorization header, so the console's scripts
// never hold it. A cookie rides along on any request the browser makes, so a cookie-authenticated
// request that changes something must also carry X-CSRF-Token: a value derived one-way from the
// session token (SHA-256 with a label), which the login answers and GET /api/me repeats. Another
// site can neither read it nor compute it; a Bearer request needs none (no browser adds a header
// by itself). The derivation needs no stored state, so it survives a server restart.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'cairn_session';
export const CSRF_HEADER = 'x-csrf-token';

/** The CSRF token that goes with a session token. */
export function csrfTokenOf(sessionToken: string): string {
  return createHash('sha256').update(`cairn-csrf\n${sessionToken}`, 'utf8').digest('base64url');
}

/** The session token in the request's cookie, if any. */
export function cookieToken(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{1,200}$/.test(value) ? value : undefined;
  }
  return undefined;
}

/** What authenticates a request: its Authorization header when it has one, else the session cookie. */
export function requestCredential(req: IncomingMessage): { token: string | undefined; viaCookie: boolean } {
  const auth = req.headers.authorization;
  if (auth !== undefined) return { token: /^Bearer (\S+)$/i.exec(auth)?.[1], viaCookie: false };
  const token = cookieToken(req);
  return { token, viaCookie: token !== undefined };
}

/** Whether the request carries the CSRF token of `sessionToken`. */
export function csrfMatches(req: IncomingMessage, sessionToken: string): boolean {
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== 'string') return false;
  const want = Buffer.from(csrfTokenOf(sessionToken));
  const got = Buffer.from(sent);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The Set-Cookie value of a session that expires at `expiresAt` (ms). */
export function sessionCookie(token: string, expiresAt: number, now = Date.now()): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - now) / 1000));
  return `${SESSION_COOKIE}=${token}; Path=/api; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`;
}

/** The Set-Cookie value that makes the browser drop the session cookie. */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/api; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;
}

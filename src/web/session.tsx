// Who is logged in: the login page (POST /api/login with cookie: true, which sets the HttpOnly
// session cookie and answers the CSRF token), the session check at load (GET /api/me answers the
// CSRF token again for a cookie session) and logout. A 401 from any call ends the session here
// and brings the login page back.
import { createContext, type FormEvent, useContext, useState } from 'react';
import { ApiError, setCsrfToken } from './api.ts';
import { CALLS, call } from './calls.ts';

/** The four roles of people (src/server/auth/roles.ts). */
export type Role = 'admin' | 'operator' | 'user' | 'auditor';

export type Session = { user: string; role: Role; csrf: string };

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('no session');
  return s;
}

/** What a role may do in the console (the API refuses the rest anyway). */
export function mayOperate(role: Role): boolean {
  return role !== 'auditor';
}

/**
 * Set while this browser holds a session cookie as far as the page knows: without it the app shows
 * the login page at once instead of asking GET /api/me for a 401 (which the browser logs as an error).
 */
const LOGGED_IN_KEY = 'cairn.loggedIn';

export function markLoggedIn(loggedIn: boolean): void {
  if (loggedIn) localStorage.setItem(LOGGED_IN_KEY, '1');
  else localStorage.removeItem(LOGGED_IN_KEY);
}

export async function currentSession(): Promise<Session | undefined> {
  if (localStorage.getItem(LOGGED_IN_KEY) !== '1') return undefined;
  try {
    const me = await call<{ user: string; role: Role; csrf?: string }>(CALLS.me);
    if (me.csrf === undefined) return undefined;
    setCsrfToken(me.csrf);
    return { user: me.user, role: me.role, csrf: me.csrf };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      markLoggedIn(false);
      return undefined;
    }
    throw e;
  }
}

export async function logout(): Promise<void> {
  await call(CALLS.logout).catch(() => undefined);
  setCsrfToken(undefined);
  markLoggedIn(false);
}

export function LoginPage({ onLogin, notice }: { onLogin: (s: Session) => void; notice?: string }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await call<{ user: string; role: Role; csrf: string }>(CALLS.login, { body: { user, password, cookie: true } });
      setCsrfToken(s.csrf);
      markLoggedIn(true);
      onLogin({ user: s.user, role: s.role, csrf: s.csrf });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <h1>Cairn</h1>
      <form onSubmit={submit} aria-label="Log in">
        {notice && <p className="notice" role="status">{notice}</p>}
        <label>
          User
          <input name="user" autoComplete="username" required value={user} onChange={(e) => setUser(e.target.value)} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}

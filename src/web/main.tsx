// The web console's entry: checks the session (GET /api/me), shows the login page or the app
// shell, and picks the page from the path. The server answers index.html for every console path.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { whenSessionEnds } from './api.ts';
import { Shell } from './shell.tsx';
import { currentSession, LoginPage, markLoggedIn, type Session, SessionContext } from './session.tsx';
import './style.css';

function App() {
  const [session, setSession] = useState<Session | undefined | null>(null);
  const [notice, setNotice] = useState<string | undefined>();
  useEffect(() => {
    whenSessionEnds(() => {
      markLoggedIn(false);
      setNotice('Your session ended; log in again.');
      setSession(undefined);
    });
    currentSession().then(setSession, (e: unknown) => {
      setNotice((e as Error).message);
      setSession(undefined);
    });
  }, []);
  if (session === null) return <p className="loading">Loading…</p>;
  if (session === undefined)
    return (
      <LoginPage
        notice={notice}
        onLogin={(s) => {
          setNotice(undefined);
          setSession(s);
        }}
      />
    );
  return (
    <SessionContext.Provider value={session}>
      <Shell onLogout={() => setSession(undefined)} />
    </SessionContext.Provider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

// Pieces the Admin pages share: their own navigation (users, API tokens, audit log, alerts), a
// button that asks again before it removes something (in the page: a browser dialog would block
// and cannot be styled), a secret shown this once with a copy button, and a change's outcome line.
import { type ReactNode, useState } from 'react';
import { ErrorLine } from '../widgets.tsx';
import { Link, useLocation } from '../router.tsx';
import type { Role } from '../session.tsx';
import './admin.css';

/** The Admin section is for the roles that read users and the audit log. */
export function hasAdminSection(role: Role): boolean {
  return role === 'admin' || role === 'auditor';
}

const SECTIONS = [
  { to: '/admin', label: 'Users and roles' },
  { to: '/admin/tokens', label: 'API tokens' },
  { to: '/admin/audit', label: 'Audit log' },
  { to: '/admin/alerts', label: 'Alerts' },
];

export function AdminNav({ role }: { role: Role }) {
  const { path } = useLocation();
  if (!hasAdminSection(role)) return null;
  return (
    <nav aria-label="Admin" className="subnav">
      <ul>
        {SECTIONS.map((s) => (
          <li key={s.to}>
            <Link to={s.to} aria-current={path === s.to ? 'page' : undefined}>
              {s.label}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/**
 * `label` opens a question with a button that does it (`confirmLabel`) and one that does not;
 * `what` says what will happen. `name` names the row for screen readers (`Remove ann`).
 */
export function ConfirmButton({ label, name, what, confirmLabel, onConfirm }: { label: string; name: string; what: string; confirmLabel: string; onConfirm: () => Promise<void> }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking)
    return (
      <button type="button" aria-label={`${label} ${name}`} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span className="confirm" role="group" aria-label={`${label} ${name}?`}>
      <span>{what}</span>{' '}
      <button
        type="button"
        className="danger"
        disabled={busy}
        autoFocus
        onClick={() => {
          setBusy(true);
          void onConfirm().finally(() => {
            setBusy(false);
            setAsking(false);
          });
        }}
      >
        {confirmLabel}
      </button>{' '}
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** A secret the server answers once (an API token, a webhook's signing secret): shown, copied, then gone. */
export function ShownOnce({ label, secret }: { label: string; secret: string }) {
  const [copied, setCopied] = useState<string | undefined>();
  const copy = () =>
    navigator.clipboard.writeText(secret).then(
      () => setCopied('Copied.'),
      () => setCopied('The browser refused to copy: select the text and copy it.'),
    );
  return (
    <figure className="command shown-once">
      <figcaption>{label}</figcaption>
      <pre tabIndex={0}>
        <code className="secret">{secret}</code>
      </pre>
      <button type="button" onClick={() => void copy()}>
        Copy
      </button>{' '}
      {copied && <span role="status">{copied}</span>}
    </figure>
  );
}

/**
 * A change made from a page: `act` runs it, then says `said` (or the API's refusal, as it is) in
 * `outcome`, and calls `after` (a list's reload) when it worked.
 */
export function useChange(after: () => void): { act: (change: () => Promise<unknown>, said: string) => Promise<void>; outcome: ReactNode } {
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const act = async (change: () => Promise<unknown>, said: string) => {
    setError(undefined);
    setDone(undefined);
    try {
      await change();
      setDone(said);
      after();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return {
    act,
    outcome: (
      <>
        <ErrorLine error={error} />
        {done && <p role="status">{done}</p>}
      </>
    ),
  };
}

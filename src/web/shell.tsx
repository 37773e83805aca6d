// The app shell: navigation (only what the role may use), who is logged in, logout, and the page
// the path names.
import { type ReactNode, useEffect, useRef } from 'react';
import { hasAdminSection } from './pages/admin-parts.tsx';
import { AlertsPage } from './pages/alerts.tsx';
import { AuditPage } from './pages/audit.tsx';
import { Dashboard } from './pages/dashboard.tsx';
import { GcPage } from './pages/gc.tsx';
import { JobEdit, JobsPage } from './pages/jobs.tsx';
import { NetworkPage } from './pages/network.tsx';
import { PartDetail, PartsPage } from './pages/parts.tsx';
import { RunDetail, RunsPage } from './pages/runs.tsx';
import { SnapshotBrowser, SnapshotsPage } from './pages/snapshots.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { UsersPage } from './pages/users.tsx';
import { Link, matchPath, useLocation } from './router.tsx';
import { logout, type Role, useSession } from './session.tsx';

type Page = { pattern: string; render: (params: Record<string, string>, query: URLSearchParams) => ReactNode };

const PAGES: Page[] = [
  { pattern: '/', render: () => <Dashboard /> },
  { pattern: '/agents', render: () => <PartsPage kind="agent" /> },
  { pattern: '/agents/:name', render: (p) => <PartDetail kind="agent" name={p.name!} /> },
  { pattern: '/storages', render: () => <PartsPage kind="storage" /> },
  { pattern: '/storages/:name', render: (p) => <PartDetail kind="storage" name={p.name!} /> },
  { pattern: '/jobs', render: () => <JobsPage /> },
  { pattern: '/jobs/new', render: () => <JobEdit /> },
  { pattern: '/jobs/:name', render: (p) => <JobEdit name={p.name!} /> },
  { pattern: '/runs', render: (_p, q) => <RunsPage query={q} /> },
  { pattern: '/runs/:id', render: (p) => <RunDetail id={Number(p.id)} /> },
  { pattern: '/snapshots', render: (_p, q) => <SnapshotsPage query={q} /> },
  { pattern: '/snapshots/:id', render: (p, q) => <SnapshotBrowser id={p.id!} path={q.get('path') ?? '/'} /> },
  // the Admin pages are reached from the navigation only by roles that may use them; another
  // role typing the address gets the API's refusal in the page
  { pattern: '/admin', render: () => <UsersPage /> },
  { pattern: '/admin/tokens', render: () => <TokensPage /> },
  { pattern: '/tokens', render: () => <TokensPage /> },
  { pattern: '/admin/audit', render: (_p, q) => <AuditPage query={q} /> },
  { pattern: '/admin/alerts', render: () => <AlertsPage /> },
  { pattern: '/network', render: () => <NetworkPage /> },
  { pattern: '/gc', render: () => <GcPage /> },
];

const NAV: { to: string; label: string; shown?: (role: Role) => boolean }[] = [
  { to: '/', label: 'Dashboard' },
  { to: '/agents', label: 'Agents' },
  { to: '/storages', label: 'Storage servers' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/runs', label: 'Runs' },
  { to: '/snapshots', label: 'Snapshots' },
  // operators and users manage their own API tokens; admins and auditors find them under Admin
  { to: '/tokens', label: 'API tokens', shown: (role: Role) => !hasAdminSection(role) },
  { to: '/admin', label: 'Admin', shown: hasAdminSection },
  { to: '/network', label: 'Network' },
  { to: '/gc', label: 'Garbage collection', shown: (role: Role) => role === 'admin' || role === 'operator' },
];

function current(to: string, path: string): boolean {
  return to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`);
}

export function Shell({ onLogout }: { onLogout: () => void }) {
  const session = useSession();
  const { path, query } = useLocation();
  const main = useRef<HTMLElement>(null);
  // a new page takes the focus to its heading, so the keyboard (and a screen reader) starts there
  // instead of on a link that is gone or on the page's body
  const search = query.toString();
  useEffect(() => {
    const h1 = main.current?.querySelector('h1');
    if (!h1) return;
    if (!h1.hasAttribute('tabindex')) h1.setAttribute('tabindex', '-1');
    h1.focus();
  }, [path, search]);
  let page: ReactNode = (
    <section>
      <h1>Not found</h1>
      <p>No console page at this address.</p>
    </section>
  );
  for (const p of PAGES) {
    const params = matchPath(p.pattern, path);
    if (params) {
      page = p.render(params, query);
      break;
    }
  }
  return (
    <div className="app">
      <header>
        <Link to="/" className="brand">
          Cairn
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => n.shown?.(session.role) ?? true).map((n) => (
              <li key={n.to}>
                <Link to={n.to} aria-current={current(n.to, path) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span>
            {session.user} ({session.role})
          </span>
          <button type="button" onClick={() => void logout().then(onLogout)}>
            Log out
          </button>
        </div>
      </header>
      <main ref={main}>{page}</main>
    </div>
  );
}

// The app shell: navigation (only what the role may use), who is logged in, logout, and the page
// the path names.
import type { ReactNode } from 'react';
import { Dashboard } from './pages/dashboard.tsx';
import { GcPage } from './pages/gc.tsx';
import { JobEdit, JobsPage } from './pages/jobs.tsx';
import { NetworkPage } from './pages/network.tsx';
import { PartDetail, PartsPage } from './pages/parts.tsx';
import { RunDetail, RunsPage } from './pages/runs.tsx';
import { SnapshotBrowser, SnapshotsPage } from './pages/snapshots.tsx';
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
  { pattern: '/network', render: () => <NetworkPage /> },
  { pattern: '/gc', render: () => <GcPage /> },
];

/** `roles`: only these see the entry (the API refuses the rest anyway). */
const NAV: { to: string; label: string; roles?: Role[] }[] = [
  { to: '/', label: 'Dashboard' },
  { to: '/agents', label: 'Agents' },
  { to: '/storages', label: 'Storage servers' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/runs', label: 'Runs' },
  { to: '/snapshots', label: 'Snapshots' },
  { to: '/network', label: 'Network' },
  { to: '/gc', label: 'Garbage collection', roles: ['admin', 'operator'] },
];

function current(to: string, path: string): boolean {
  return to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`);
}

export function Shell({ onLogout }: { onLogout: () => void }) {
  const session = useSession();
  const { path, query } = useLocation();
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
            {NAV.filter((n) => !n.roles || n.roles.includes(session.role)).map((n) => (
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
      <main>{page}</main>
    </div>
  );
}

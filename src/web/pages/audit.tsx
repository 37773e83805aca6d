// The audit log (admins and auditors): the filters GET /api/audit takes (since, user, limit) kept
// in the page's address so a filtered view can be linked, the answer shown newest first in pages
// of 50, times in the browser's zone with UTC on hover. Names in entries come from anyone who
// reached the server (a failed login's name is whatever was typed): they are shown as text.
import { type FormEvent, useState } from 'react';
import type { AuditRecordJson } from '../../protocol/people.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { navigate } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Time } from '../time.tsx';
import { ErrorLine, Head } from '../widgets.tsx';
import { AdminNav } from './admin-parts.tsx';

const PAGE = 50;
const DEFAULT_LIMIT = 500;

/** `2026-12-06T10:00` in the browser's zone (what a datetime-local field holds) from an ISO time. */
function localField(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function AuditPage({ query }: { query: URLSearchParams }) {
  const session = useSession();
  const since = query.get('since') ?? '';
  const user = query.get('user') ?? '';
  const limit = query.get('limit') ?? String(DEFAULT_LIMIT);
  const entries = useLoad((signal) => call<AuditRecordJson[]>(CALLS.audit, { query: { since, user, limit }, signal }), `audit:${since}:${user}:${limit}`);
  const [page, setPage] = useState(0);
  const [shownKey, setShownKey] = useState('');
  const key = `${since}:${user}:${limit}`;
  if (key !== shownKey) {
    // new filters start at the first page
    setShownKey(key);
    setPage(0);
  }
  const filter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const q = new URLSearchParams();
    const local = String(f.get('since') ?? '');
    // the field is in the browser's zone; the API takes an ISO time (sent in UTC)
    if (local) q.set('since', new Date(local).toISOString());
    const who = String(f.get('user') ?? '').trim();
    if (who) q.set('user', who);
    const max = String(f.get('limit') ?? '').trim();
    if (max && max !== String(DEFAULT_LIMIT)) q.set('limit', max);
    navigate(`/admin/audit${q.size ? `?${q}` : ''}`);
  };
  const all = entries.data ?? [];
  const shown = all.slice(page * PAGE, (page + 1) * PAGE);
  const pages = Math.max(1, Math.ceil(all.length / PAGE));
  return (
    <section>
      <AdminNav role={session.role} />
      <h1>Audit log</h1>
      <form className="filters" onSubmit={filter} aria-label="Filter the audit log" key={key}>
        <label>
          Since (your time zone)
          <input name="since" type="datetime-local" defaultValue={since ? localField(since) : ''} />
        </label>
        <label>
          User (or scheduler)
          <input name="user" autoComplete="off" defaultValue={user} />
        </label>
        <label>
          At most
          <input name="limit" type="number" min={1} max={10000} defaultValue={limit} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorLine error={entries.error} />
      <p role="status">
        {entries.loading
          ? 'Loading…'
          : all.length === 0
            ? 'No entry matches.'
            : `Entries ${page * PAGE + 1}–${page * PAGE + shown.length} of ${all.length}, newest first${all.length === Number(limit) ? ' (the limit: older ones are left out)' : ''}.`}
      </p>
      <div className="table-scroll" tabIndex={0}>
        <table className="audit">
          <Head cols={['Time', 'User', 'Action', 'Target', 'Address', 'Result']} />
          <tbody>
            {shown.map((a, i) => (
              <tr key={`${page}:${i}`} data-who={a.who}>
                <td>
                  <Time iso={a.time} />
                </td>
                <td>{a.who}</td>
                <td>
                  {a.action ?? a.what}
                  {a.action && a.action !== a.what && <div className="mono muted">{a.what}</div>}
                </td>
                <td className="mono">{a.target ?? '—'}</td>
                <td className="mono">{a.address ?? '—'}</td>
                <td>{a.result}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pages > 1 && (
        <p className="pager">
          <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
            Newer entries
          </button>{' '}
          Page {page + 1} of {pages}{' '}
          <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
            Older entries
          </button>
        </p>
      )}
    </section>
  );
}

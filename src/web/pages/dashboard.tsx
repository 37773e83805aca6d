// The dashboard: running runs with live progress (the event stream), queued runs with their
// reasons, the last 24 h of results, parts online/offline with RTT, and storage use with the
// dedup ratio per storage server. A `user` sees only its own (the API filters).
import { useState } from 'react';
import type { RunJson, StatusJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useEvents, useLoad } from '../data.ts';
import { Link } from '../router.tsx';
import { bytes, Time } from '../time.tsx';
import { ErrorLine, Head, RunProgress, Status } from '../widgets.tsx';

const DAY_MS = 86_400_000;

export function Dashboard() {
  const status = useLoad((signal) => call<StatusJson>(CALLS.status, { signal }), 'status');
  const recent = useLoad((signal) => call<RunJson[]>(CALLS.runs, { query: { limit: 200 }, signal }), 'recent');
  const [live, setLive] = useState<Record<number, Partial<RunJson>>>({});
  useEvents((e) => {
    if (e.type === 'progress') {
      const id = Number(e.data.id);
      setLive((l) => ({ ...l, [id]: { ...l[id], ...(e.data as Partial<RunJson>) } }));
    } else if (e.type === 'run') {
      const id = Number(e.data.id);
      setLive((l) => ({ ...l, [id]: { ...l[id], ...(e.data as Partial<RunJson>) } }));
      status.reload();
      recent.reload();
    } else status.reload();
  });
  const s = status.data;
  const since = Date.now() - DAY_MS;
  // a run that ended while shown stays in the list with its final state until the next load
  const running = (s?.running ?? []).map((r) => ({ ...r, ...live[r.id] }) as RunJson);
  const shown = new Set(running.map((r) => r.id));
  for (const r of Object.values(live)) if (r.id !== undefined && !shown.has(r.id) && r.endedAt && r.kind) running.push(r as RunJson);
  const results = (recent.data ?? []).filter((r) => r.endedAt !== null && Date.parse(r.endedAt) >= since);
  const counts = { succeeded: 0, failed: 0, canceled: 0 };
  for (const r of results) if (r.status in counts) counts[r.status as keyof typeof counts]++;
  return (
    <section>
      <h1>Dashboard</h1>
      <ErrorLine error={status.error} />
      <h2>Running</h2>
      {running.length === 0 ? (
        <p>No run is running.</p>
      ) : (
        <ul className="runs-live">
          {running.map((r) => (
            <li key={r.id}>
              <Link to={`/runs/${r.id}`}>
                Run {r.id} {r.job ?? r.kind}
              </Link>{' '}
              <RunProgress run={r} />
              {r.currentPath ? <span className="path">{r.currentPath}</span> : null}
            </li>
          ))}
        </ul>
      )}
      <h2>Queued</h2>
      {(s?.queued ?? []).length === 0 ? (
        <p>Nothing is queued.</p>
      ) : (
        <div className="table-scroll" tabIndex={0}>
<table>
          <Head cols={['Run', 'Job', 'Queued', 'Waiting because']} />
          <tbody>
            {s!.queued.map((r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/runs/${r.id}`}>{r.id}</Link>
                </td>
                <td>{r.job ?? r.kind}</td>
                <td>
                  <Time iso={r.queuedAt} />
                </td>
                <td>{r.reason ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
</div>
      )}
      <h2>Last 24 hours</h2>
      <p className="summary">
        <span>{counts.succeeded} succeeded</span> · <span>{counts.failed} failed</span> · <span>{counts.canceled} canceled</span>
      </p>
      {(s?.failures ?? []).length > 0 && (
        <ul>
          {s!.failures.map((r) => (
            <li key={r.id}>
              <Link to={`/runs/${r.id}`}>Run {r.id}</Link> {r.job ?? r.kind} <Status value={r.status} /> {r.error}
            </li>
          ))}
        </ul>
      )}
      <h2>Parts</h2>
      <div className="table-scroll" tabIndex={0}>
<table>
        <Head cols={['Part', 'Kind', 'Status', 'RTT', 'Since']} />
        <tbody>
          {(s?.parts ?? []).map((p) => (
            <tr key={`${p.kind}:${p.name}`} data-part={`${p.kind}:${p.name}`}>
              <td>
                <Link to={`/${p.kind === 'agent' ? 'agents' : 'storages'}/${encodeURIComponent(p.name)}`}>{p.name}</Link>
              </td>
              <td>{p.kind === 'agent' ? 'agent' : 'storage server'}</td>
              <td>
                <Status value={p.status} />
              </td>
              <td>{p.rttMs === null ? '—' : `${p.rttMs.toFixed(1)} ms`}</td>
              <td>
                <Time iso={p.since} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      <h2>Storage</h2>
      <div className="table-scroll" tabIndex={0}>
<table>
        <Head cols={['Storage server', 'Stored', 'Logical', 'Dedup ratio', 'Disk free']} />
        <tbody>
          {(s?.storage ?? []).map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td>
              <td>{bytes(p.bytesStored)}</td>
              <td>{bytes(p.bytesLogical)}</td>
              <td>{p.dedupRatio === null || p.dedupRatio === undefined ? '—' : `${p.dedupRatio.toFixed(2)}×`}</td>
              <td>
                {bytes(p.diskFreeBytes)} of {bytes(p.diskTotalBytes)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
    </section>
  );
}

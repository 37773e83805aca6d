// Runs: the history with filters (job, status), and one run's live view: progress and log lines
// from the run's event stream (its lines numbered: each shown once and in order, the ones written
// before the page opened replayed first), cancel.
import { type FormEvent, useEffect, useRef, useState } from 'react';
import type { RunJson, RunStatus } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useEvents, useLoad } from '../data.ts';
import { Link, navigate } from '../router.tsx';
import { mayOperate, useSession } from '../session.tsx';
import { bytes, Time } from '../time.tsx';
import { ErrorLine, Head, RunProgress, Status } from '../widgets.tsx';
import { RunFindings } from './run-findings.tsx';

type LogLine = { time: string; level: string; part: string; message: string };
/** Lines that came meanwhile are shown together this often (a replay of 10,000 is not 10,000 renders). */
const LOG_SHOW_MS = 100;
const RUN_EVENTS = ['run', 'progress', 'log', 'log-end'] as const;
const RUN_RELOAD_MS = 2000;
const RUN_STATUSES: RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

export function RunsPage({ query }: { query: URLSearchParams }) {
  const job = query.get('job') ?? '';
  const status = query.get('status') ?? '';
  const runs = useLoad((signal) => call<RunJson[]>(CALLS.runs, { query: { job, status, limit: 200 }, signal }), `runs:${job}:${status}`);
  const [jobText, setJobText] = useState(job);
  const filter = (e: FormEvent) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (jobText) q.set('job', jobText);
    const s = (e.currentTarget as HTMLFormElement).elements.namedItem('status') as HTMLSelectElement;
    if (s.value) q.set('status', s.value);
    navigate(`/runs${q.size ? `?${q}` : ''}`);
  };
  return (
    <section>
      <h1>Runs</h1>
      <form className="filters" onSubmit={filter} aria-label="Filter runs">
        <label>
          Job
          <input name="job" value={jobText} onChange={(e) => setJobText(e.target.value)} />
        </label>
        <label>
          Status
          <select name="status" defaultValue={status} key={status}>
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorLine error={runs.error} />
      <div className="table-scroll" tabIndex={0}>
<table>
        <Head cols={['Run', 'Job', 'Kind', 'Level', 'Status', 'Queued', 'Ended', 'Bytes read']} />
        <tbody>
          {(runs.data ?? []).map((r) => (
            <tr key={r.id}>
              <td>
                <Link to={`/runs/${r.id}`}>{r.id}</Link>
              </td>
              <td>{r.job ?? '—'}</td>
              <td>{r.kind}</td>
              <td>{r.level ?? r.requestedLevel ?? '—'}</td>
              <td>
                <Status value={r.status} />
              </td>
              <td>
                <Time iso={r.queuedAt} />
              </td>
              <td>
                <Time iso={r.endedAt} />
              </td>
              <td>{bytes(r.bytesRead)}</td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      {runs.data?.length === 0 && <p>No run matches.</p>}
    </section>
  );
}

export function RunDetail({ id }: { id: number }) {
  const session = useSession();
  const loaded = useLoad((signal) => call<RunJson>(CALLS.run, { params: { id }, signal }), `run:${id}`);
  const [run, setRun] = useState<RunJson | undefined>();
  const [log, setLog] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [logEnded, setLogEnded] = useState(false);
  // lines taken (their count is the last seq shown) and not yet shown
  const taken = useRef(0);
  const pending = useRef<LogLine[]>([]);
  const showTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => setRun(loaded.data), [loaded.data]);
  useEffect(() => {
    setLog([]);
    setLogEnded(false);
    taken.current = 0;
    pending.current = [];
    return () => {
      clearTimeout(showTimer.current);
      showTimer.current = undefined;
    };
  }, [id]);
  useEvents(
    (e) => {
      if (e.type === 'log' || e.type === 'log-end') {
        if (Number(e.data.run) !== id) return;
        if (e.type === 'log-end') {
          setLogEnded(true);
          return;
        }
        // a line seen before (a reconnect) or past a missing one is not shown twice or out of order
        if (Number(e.data.seq) !== taken.current + 1) return;
        taken.current++;
        pending.current.push({ time: String(e.data.time), level: String(e.data.level), part: String(e.data.part), message: String(e.data.message) });
        showTimer.current ??= setTimeout(() => {
          showTimer.current = undefined;
          const lines = pending.current;
          pending.current = [];
          setLog((l) => l.concat(lines));
        }, LOG_SHOW_MS);
        return;
      }
      if (Number(e.data.id) !== id) return;
      setRun((r) => (r ? ({ ...r, ...e.data } as RunJson) : r));
    },
    id,
    RUN_EVENTS,
  );
  const live = run?.status === 'running' || run?.status === 'queued';
  // the run itself is re-read while live: an end that came before the event stream was open is not missed
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => loaded.reload(), RUN_RELOAD_MS);
    return () => clearInterval(timer);
  }, [live]);
  const cancel = async () => {
    setError(undefined);
    try {
      setRun(await call<RunJson>(CALLS.cancelRun, { params: { id } }));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section>
      <p>
        <Link to="/runs">← Runs</Link>
      </p>
      <h1>Run {id}</h1>
      <ErrorLine error={loaded.error ?? error} />
      {run && (
        <>
          <p>
            <RunProgress run={run} /> {live && mayOperate(session.role) && (
              <button type="button" onClick={() => void cancel()}>
                Cancel run
              </button>
            )}
          </p>
          <dl className="facts">
            <dt>Job</dt>
            <dd>{run.job ? <Link to={`/jobs/${encodeURIComponent(run.job)}`}>{run.job}</Link> : '—'}</dd>
            <dt>Kind</dt>
            <dd>
              {run.kind} {run.level ?? run.requestedLevel ?? ''}
            </dd>
            <dt>Status</dt>
            <dd>
              <Status value={run.status} /> {run.reason ? `(${run.reason})` : ''}
            </dd>
            <dt>Agent → storage</dt>
            <dd>
              {run.agent ?? '—'} → {run.storage ?? '—'}
            </dd>
            <dt>Queued / started / ended</dt>
            <dd>
              <Time iso={run.queuedAt} /> / <Time iso={run.startedAt} /> / <Time iso={run.endedAt} />
            </dd>
            <dt>Files</dt>
            <dd>
              {run.files} ({run.filesChanged} changed)
            </dd>
            <dt>Bytes read / new</dt>
            <dd>
              {bytes(run.bytesRead)} / {bytes(run.bytesNew)}
            </dd>
            {run.currentPath && (
              <>
                <dt>Reading</dt>
                <dd className="path">{run.currentPath}</dd>
              </>
            )}
            <dt>Snapshot</dt>
            <dd>{run.snapshot ? <Link to={`/snapshots/${run.snapshot}`}>{run.snapshot}</Link> : '—'}</dd>
            {run.error && (
              <>
                <dt>Error</dt>
                <dd>{run.error}</dd>
              </>
            )}
            <dt>Warnings</dt>
            <dd>{run.warningsTotal}</dd>
          </dl>
          <RunFindings run={run} />
        </>
      )}
      <h2>Log</h2>
      <ol className="log" aria-live="polite">
        {log.map((l, i) => (
          <li key={i} className={`log-${l.level}`}>
            <Time iso={l.time} /> <span className="part">{l.part}</span> {l.message}
          </li>
        ))}
      </ol>
      {log.length === 0 && <p>{logEnded ? 'No log lines.' : 'No log lines yet.'}</p>}
    </section>
  );
}

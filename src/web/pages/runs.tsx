// Runs: the history with filters (job, status), and one run's live view: progress from the event
// stream, its log followed while it runs (re-read on each event and every 2 s: the stream carries
// no log lines), cancel.
import { type FormEvent, useEffect, useState } from 'react';
import type { RunJson, RunStatus } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useEvents, useLoad } from '../data.ts';
import { Link, navigate } from '../router.tsx';
import { mayOperate, useSession } from '../session.tsx';
import { bytes, Time } from '../time.tsx';
import { ErrorLine, Head, RunProgress, Status } from '../widgets.tsx';
import { RunFindings } from './run-findings.tsx';

type LogLine = { time: string; level: string; part: string; message: string };
const LOG_POLL_MS = 2000;
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
  useEffect(() => setRun(loaded.data), [loaded.data]);
  useEvents((e) => {
    if (Number(e.data.id) !== id) return;
    setRun((r) => (r ? ({ ...r, ...e.data } as RunJson) : r));
  }, id);
  const live = run?.status === 'running' || run?.status === 'queued';
  useEffect(() => {
    let stop = false;
    const read = () =>
      call<LogLine[]>(CALLS.runLog, { params: { id } }).then(
        (lines) => !stop && setLog(lines),
        () => undefined,
      );
    void read();
    if (!live) return () => void (stop = true);
    // the run too: an end that came before the event stream was open is not missed
    const timer = setInterval(() => {
      void read();
      loaded.reload();
    }, LOG_POLL_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [id, live]);
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
      {log.length === 0 && <p>No log lines yet.</p>}
    </section>
  );
}

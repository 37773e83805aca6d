// Snapshots: the list (filter by job or agent; a job's are searched by name and its retention
// applied), and a file browser (with verify and forget) over one snapshot's catalog
// index (GET /api/snapshots/:id/ls, one directory at a time) where files and folders are picked
// for the restore wizard. File names come from protected machines: they are only ever React text,
// never markup.
import { useEffect, useRef, useState } from 'react';
import type { JobJson, LsEntryJson, SnapshotJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { Link, navigate } from '../router.tsx';
import { mayOperate, useSession } from '../session.tsx';
import { bytes, Time } from '../time.tsx';
import { ErrorLine, Head, NameOptions } from '../widgets.tsx';
import { FindByName } from './find.tsx';
import { ForgetSnapshot, RetentionForget } from './forget.tsx';
import { RestoreWizard } from './restore.tsx';
import { VerifyForm } from './verify.tsx';

/** Picks the job whose snapshots are listed (and searched by name). */
function JobPicker({ job }: { job: string | undefined }) {
  const jobs = useLoad((signal) => call<JobJson[]>(CALLS.jobs, { signal }), 'jobs');
  return (
    <form className="filters" aria-label="Pick a job" onSubmit={(e) => e.preventDefault()}>
      <label>
        Job
        <select
          value={job ?? ''}
          onChange={(e) => navigate(e.target.value === '' ? '/snapshots' : `/snapshots?job=${encodeURIComponent(e.target.value)}`)}
        >
          <option value="">every job</option>
          <NameOptions names={(jobs.data ?? []).map((j) => j.name)} />
        </select>
      </label>
    </form>
  );
}

export function SnapshotsPage({ query }: { query: URLSearchParams }) {
  const job = query.get('job') ?? undefined;
  const agent = query.get('agent') ?? undefined;
  const session = useSession();
  const snaps = useLoad((signal) => call<SnapshotJson[]>(CALLS.snapshots, { query: { job, agent }, signal }), `snaps:${job}:${agent}`);
  return (
    <section>
      <h1>{job ? `Snapshots of ${job}` : 'Snapshots'}</h1>
      <JobPicker job={job} />
      {job && (
        <>
          <h2>Search by name</h2>
          <FindByName job={job} key={job} />
        </>
      )}
      <ErrorLine error={snaps.error} />
      <div className="table-scroll" tabIndex={0}>
<table>
        <Head cols={['Snapshot', 'Time', 'Job', 'Agent', 'Level', 'Files', 'Size']} />
        <tbody>
          {(snaps.data ?? []).map((s) => (
            <tr key={s.id}>
              <td>
                <Link to={`/snapshots/${s.id}`} className="mono">
                  {s.id.slice(0, 12)}
                </Link>
              </td>
              <td>
                <Time iso={s.time} />
              </td>
              <td>{s.job ?? '—'}</td>
              <td>{s.agent}</td>
              <td>{s.level}</td>
              <td>{s.files}</td>
              <td>{bytes(s.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      {snaps.data?.length === 0 && <p>No snapshot yet.</p>}
      {job && mayOperate(session.role) && (
        <>
          <h2>Retention</h2>
          <RetentionForget job={job} key={job} onForgot={snaps.reload} />
        </>
      )}
    </section>
  );
}

function parentOf(path: string): string {
  const cut = path.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** Entries a folder page asks for; the server pages by name and says where the next page starts. */
const LS_PAGE = 500;

async function lsPage(id: string, path: string, after: string | undefined, signal?: AbortSignal): Promise<{ entries: LsEntryJson[]; next: string | undefined }> {
  let next: string | undefined;
  const entries = await call<LsEntryJson[]>(CALLS.ls, {
    params: { id },
    query: { path, after, limit: LS_PAGE },
    onHeaders: (h) => (next = h.get('cairn-next-after') ?? undefined),
    ...(signal ? { signal } : {}),
  });
  return { entries, next };
}

const browse = (id: string, path: string) => `/snapshots/${id}?path=${encodeURIComponent(path)}`;

export function SnapshotBrowser({ id, path }: { id: string; path: string }) {
  const session = useSession();
  const snap = useLoad((signal) => call<SnapshotJson>(CALLS.snapshot, { params: { id }, signal }), `snap:${id}`);
  const dir = useLoad((signal) => lsPage(id, path, undefined, signal), `ls:${id}:${path}`);
  // later pages of this folder, appended as asked for (the first page comes with `dir`)
  const [more, setMore] = useState<{ key: string; entries: LsEntryJson[]; next: string | undefined; error?: string }>({ key: '', entries: [], next: undefined });
  const here = `${id}:${path}`;
  const shownMore = more.key === here ? more : { key: here, entries: [], next: dir.data?.next };
  const entries = [...(dir.data?.entries ?? []), ...shownMore.entries];
  const next = shownMore.key === here && shownMore.entries.length > 0 ? shownMore.next : dir.data?.next;
  // after "Show the next", the focus goes to the first new row's pick box (the button moved below them)
  const table = useRef<HTMLTableElement>(null);
  const [focusRow, setFocusRow] = useState<number | undefined>();
  useEffect(() => {
    if (focusRow === undefined) return;
    table.current?.querySelectorAll<HTMLInputElement>('tr[data-entry] input')[focusRow]?.focus();
    setFocusRow(undefined);
  }, [focusRow]);
  const loadMore = async () => {
    try {
      const page = await lsPage(id, path, next);
      setMore({ key: here, entries: [...shownMore.entries, ...page.entries], next: page.next });
      setFocusRow(entries.length);
    } catch (e) {
      setMore({ ...shownMore, error: (e as Error).message });
    }
  };
  const crumbs = path === '/' ? [] : path.split('/').filter((p) => p !== '');
  // picked paths stay picked while browsing other folders of the snapshot
  const [picked, setPicked] = useState<string[]>([]);
  const toggle = (p: string, on: boolean) => setPicked((all) => (on ? [...all.filter((x) => x !== p), p] : all.filter((x) => x !== p)));
  return (
    <section>
      <p>
        <Link to="/snapshots">← Snapshots</Link>
      </p>
      <h1>
        Snapshot <span className="mono">{id.slice(0, 12)}</span>
      </h1>
      {snap.data && (
        <p>
          {snap.data.job ?? 'no job'} on {snap.data.agent}, <Time iso={snap.data.time} />, {snap.data.files} files, {bytes(snap.data.bytes)}
        </p>
      )}
      <nav aria-label="Folder" className="crumbs">
        <Link to={browse(id, '/')}>/</Link>
        {crumbs.map((c, i) => (
          <span key={i}>
            {i > 0 ? ' / ' : ''}
            <Link to={browse(id, `/${crumbs.slice(0, i + 1).join('/')}`)}>{c}</Link>
          </span>
        ))}
      </nav>
      <ErrorLine error={dir.error} />
      <div className="table-scroll" tabIndex={0}>
<table className="files" ref={table}>
        <Head cols={['Pick', 'Name', 'Type', 'Size', 'Modified']} />
        <tbody>
          {path !== '/' && (
            <tr>
              <td />
              <td>
                <Link to={browse(id, parentOf(path))}>..</Link>
              </td>
              <td>dir</td>
              <td />
              <td />
            </tr>
          )}
          {entries.map((e) => (
            <tr key={e.path} data-entry={e.name}>
              <td>
                <input type="checkbox" aria-label={`Pick ${e.name}`} checked={picked.includes(e.path)} onChange={(ev) => toggle(e.path, ev.target.checked)} />
              </td>
              <td>{e.type === 'dir' ? <Link to={browse(id, e.path)}>{e.name}</Link> : <span>{e.name}</span>}</td>
              <td>{e.type}</td>
              <td>{e.type === 'file' ? bytes(e.size) : ''}</td>
              <td>
                <Time iso={e.mtime} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      {dir.data && entries.length === 0 && <p>This folder is empty.</p>}
      <ErrorLine error={shownMore.error} />
      {next !== undefined && (
        <button type="button" onClick={() => void loadMore()}>
          Show the next {LS_PAGE} entries
        </button>
      )}
      {snap.data && <RestoreWizard snapshot={snap.data} include={picked} />}
      {snap.data && mayOperate(session.role) && (
        <>
          <h2>Verify</h2>
          <VerifyForm snapshot={snap.data.id} />
          <h2>Forget</h2>
          <ForgetSnapshot id={snap.data.id} job={snap.data.job} />
        </>
      )}
    </section>
  );
}

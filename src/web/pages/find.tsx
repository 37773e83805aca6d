// Search by name across one job's snapshots (GET /api/jobs/:name/find?name=GLOB, at most 1,000
// matches, newest snapshot first): each match links to its folder in the snapshot's browser.
import { type FormEvent, useState } from 'react';
import type { FindAnswerJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { Link } from '../router.tsx';
import { bytes, Time } from '../time.tsx';
import { ErrorLine, Head } from '../widgets.tsx';

function folderOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

export function FindByName({ job }: { job: string }) {
  const [answer, setAnswer] = useState<{ glob: string; found: FindAnswerJson } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const glob = String(new FormData(e.currentTarget).get('name') ?? '');
    setError(undefined);
    setBusy(true);
    try {
      setAnswer({ glob, found: await call<FindAnswerJson>(CALLS.find, { params: { name: job }, query: { name: glob } }) });
    } catch (err) {
      setAnswer(undefined);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const found = answer?.found;
  return (
    <>
      <form className="run-now" role="search" aria-label={`Search ${job}'s snapshots by name`} onSubmit={(e) => void submit(e)}>
        <label>
          File name (a glob: * ? [abc])
          <input name="name" type="search" required maxLength={1024} placeholder="*.pdf" />
        </label>
        <button type="submit" disabled={busy}>
          Search
        </button>
      </form>
      <ErrorLine error={error} />
      {answer && found && (
        <div role="region" aria-label="Search results">
          <p role="status">
            {found.matches.length === 0
              ? `No file named ${answer.glob} in ${job}'s snapshots.`
              : `${found.matches.length} match${found.matches.length === 1 ? '' : 'es'} for ${answer.glob}${found.truncated ? ` (the first ${found.matches.length}: more files match; narrow the name)` : ''}.`}
          </p>
          {found.matches.length > 0 && (
            <div className="table-scroll" tabIndex={0}>
              <table className="found">
                <Head cols={['File', 'Snapshot', 'Size', 'Modified']} />
                <tbody>
                  {found.matches.map((m) => (
                    <tr key={`${m.snapshot}:${m.path}`} data-found={m.path}>
                      <td>
                        <Link to={`/snapshots/${m.snapshot}?path=${encodeURIComponent(folderOf(m.path))}`} className="path">
                          {m.path}
                        </Link>
                      </td>
                      <td>
                        <span className="mono">{m.snapshot.slice(0, 12)}</span> <Time iso={m.time} />
                      </td>
                      <td>{m.type === 'file' ? bytes(m.size) : m.type}</td>
                      <td>
                        <Time iso={m.mtime} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </>
  );
}

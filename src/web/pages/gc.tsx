// Garbage collection of a storage server (POST /api/gc): queued as a run of kind gc and followed on
// its run page, which shows what it freed. On append-only storage a gc without the code only marks
// and says what it would free (the console's dry run); the code lies on the storage server's own
// machine (DATA/gc-confirm), and only an admin may send it.
import { type FormEvent, useState } from 'react';
import type { PartJson, RunJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { Link, navigate } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Time } from '../time.tsx';
import { ErrorLine, Head, NameSelect, Status } from '../widgets.tsx';

export function GcPage() {
  const session = useSession();
  const storages = useLoad((signal) => call<PartJson[]>(CALLS.storages, { signal }), 'gc-storages');
  // the runs list has no kind filter: the gc runs among the latest 200
  const past = useLoad(async (signal) => (await call<RunJson[]>(CALLS.runs, { query: { limit: 200 }, signal })).filter((r) => r.kind === 'gc').slice(0, 20), 'gc-runs');
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const confirm = String(f.get('confirm') ?? '').trim();
    setError(undefined);
    try {
      const run = await call<RunJson>(CALLS.gc, { body: { storage: f.get('storage'), ...(confirm !== '' ? { confirm } : {}) } });
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const names = (storages.data ?? []).map((s) => s.name);
  return (
    <section>
      <h1>Garbage collection</h1>
      <p>Deletes the chunks no snapshot refers to any more (after a forget) and rewrites packs that hold few live ones. It needs no keys.</p>
      <ErrorLine error={storages.error} />
      <form className="run-now" aria-label="Collect garbage" onSubmit={(e) => void submit(e)}>
        <NameSelect label="Storage server" name="storage" names={names} />
        {session.role === 'admin' && (
          <label>
            Confirmation code (append-only storage only; in DATA/gc-confirm on its machine)
            <input name="confirm" autoComplete="off" />
          </label>
        )}
        <button type="submit" disabled={names.length === 0}>
          Collect garbage
        </button>
      </form>
      <ErrorLine error={error} />
      <h2>Recent collections</h2>
      <ErrorLine error={past.error} />
      <div className="table-scroll" tabIndex={0}>
        <table>
          <Head cols={['Run', 'Storage server', 'Status', 'Ended']} />
          <tbody>
            {(past.data ?? []).map((r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/runs/${r.id}`}>{r.id}</Link>
                </td>
                <td>{r.storage ?? '—'}</td>
                <td>
                  <Status value={r.status} />
                </td>
                <td>
                  <Time iso={r.endedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {past.data?.length === 0 && <p>No collection yet.</p>}
    </section>
  );
}

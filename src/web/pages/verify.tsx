// Starting a verify of a snapshot (POST /api/verifies) at one of the levels the API takes; it is
// queued as a run, followed on its run page, which names the damaged files it finds.
import { type FormEvent, useState } from 'react';
import type { RunJson } from '../../protocol/api-types.ts';
import type { VerifyLevel } from '../../protocol/control.ts';
import { CALLS, call } from '../calls.ts';
import { navigate } from '../router.tsx';
import { ErrorLine } from '../widgets.tsx';

const LEVELS: { level: VerifyLevel; what: string }[] = [
  { level: 'catalog', what: 'catalog (chunks present)' },
  { level: 'data', what: 'data (chunks re-hashed)' },
  { level: 'disk', what: 'disk (live files compared)' },
];

export function VerifyForm({ snapshot }: { snapshot: string }) {
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setError(undefined);
    const level = new FormData(e.currentTarget).get('level');
    try {
      const run = await call<RunJson>(CALLS.verify, { body: { snapshot, level } });
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form className="run-now" aria-label="Verify this snapshot" onSubmit={(e) => void submit(e)}>
      <label>
        Verify level
        <select name="level" defaultValue="data">
          {LEVELS.map((l) => (
            <option key={l.level} value={l.level}>
              {l.what}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Verify</button>
      <ErrorLine error={error} />
    </form>
  );
}

// Forgetting snapshots: one from its page (asked twice: a button, then a confirmation in the page,
// never a browser dialog), and a job's retention policy applied (its own, or "keep the last N"
// given here), previewed as a dry run first. The API's refusal (a snapshot in use by a run) is
// shown as it says it.
import { type FormEvent, useState } from 'react';
import { CALLS, call } from '../calls.ts';
import { navigate } from '../router.tsx';
import { ErrorLine } from '../widgets.tsx';

type Forgot = { forgotten: string[]; forgetting: string[] };
type Retained = Forgot & { kept: string[] };

export function ForgetSnapshot({ id, job }: { id: string; job: string | null }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const forget = async () => {
    setError(undefined);
    try {
      await call<Forgot>(CALLS.forgetSnapshot, { params: { id } });
      navigate(job ? `/snapshots?job=${encodeURIComponent(job)}` : '/snapshots');
    } catch (e) {
      setAsking(false);
      setError((e as Error).message);
    }
  };
  return (
    <div className="forget">
      {!asking ? (
        <button type="button" onClick={() => setAsking(true)}>
          Forget this snapshot
        </button>
      ) : (
        <div role="group" aria-label="Confirm forget">
          <p>Forget snapshot {id.slice(0, 12)}? Its files can no longer be restored; a gc frees the space its chunks alone take.</p>
          <button type="button" className="danger" onClick={() => void forget()}>
            Yes, forget it
          </button>{' '}
          <button type="button" onClick={() => setAsking(false)}>
            Keep it
          </button>
        </div>
      )}
      <ErrorLine error={error} />
    </div>
  );
}

const short = (ids: string[]) => ids.map((i) => i.slice(0, 12)).join(', ');

export function RetentionForget({ job, onForgot }: { job: string; onForgot: () => void }) {
  const [preview, setPreview] = useState<{ last: string; answer: Retained } | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const apply = async (last: string, dryRun: boolean) => {
    setError(undefined);
    setDone(undefined);
    try {
      const answer = await call<Retained>(CALLS.forgetJob, { params: { name: job }, body: { ...(last !== '' ? { keep: { last: Number(last) } } : {}), dryRun } });
      if (dryRun) setPreview({ last, answer });
      else {
        setPreview(undefined);
        setDone(`Forgot ${answer.forgotten.length + answer.forgetting.length} snapshot(s); kept ${answer.kept.length}.`);
        onForgot();
      }
    } catch (e) {
      setPreview(undefined);
      setError((e as Error).message);
    }
  };
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    void apply(String(new FormData(e.currentTarget).get('last') ?? '').trim(), true);
  };
  return (
    <>
      <form className="run-now" aria-label="Apply retention" onSubmit={submit}>
        <label>
          Keep the last (empty: the job&apos;s own policy)
          <input name="last" type="number" min={1} max={100000} />
        </label>
        <button type="submit">Preview (dry run)</button>
      </form>
      <ErrorLine error={error} />
      {preview && (
        <div role="region" aria-label="Retention preview">
          <p>
            Would keep {preview.answer.kept.length} and forget {preview.answer.forgotten.length} snapshot(s){preview.answer.forgotten.length > 0 ? `: ${short(preview.answer.forgotten)}` : ''}.
          </p>
          {preview.answer.forgotten.length > 0 && (
            <button type="button" className="danger" onClick={() => void apply(preview.last, false)}>
              Forget {preview.answer.forgotten.length} snapshot(s)
            </button>
          )}
        </div>
      )}
      {done && <p role="status">{done}</p>}
    </>
  );
}

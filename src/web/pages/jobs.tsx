// Jobs: the list with the next run, and one job's form (create, or edit its settings), run now at
// a level, and an estimate. A job needs a vault whose keys the agent holds: making one or granting
// it needs the passphrase, so the console shows the CLI command for that instead.
import { type FormEvent, useEffect, useState } from 'react';
import type { JobJson, PartJson, RunJson, VaultJson } from '../../protocol/api-types.ts';
import type { Level } from '../../protocol/api-schema.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { Link, navigate } from '../router.tsx';
import { mayOperate, useSession } from '../session.tsx';
import { bytes, Time } from '../time.tsx';
import { Command, ErrorLine, Head, NameOptions } from '../widgets.tsx';

const LEVELS: Level[] = ['incremental', 'differential', 'full'];
const RETENTION = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

export function JobsPage() {
  const session = useSession();
  const jobs = useLoad((signal) => call<JobJson[]>(CALLS.jobs, { signal }), 'jobs');
  return (
    <section>
      <h1>Jobs</h1>
      <ErrorLine error={jobs.error} />
      {mayOperate(session.role) && (
        <p>
          <Link to="/jobs/new" className="button">
            New job
          </Link>
        </p>
      )}
      <div className="table-scroll" tabIndex={0}>
<table>
        <Head cols={['Name', 'Agent', 'Storage', 'Paths', 'Next run']} />
        <tbody>
          {(jobs.data ?? []).map((j) => (
            <tr key={j.name} data-job={j.name}>
              <td>
                <Link to={`/jobs/${encodeURIComponent(j.name)}`}>{j.name}</Link>
                {j.paused ? ' (paused)' : ''}
              </td>
              <td>{j.agent}</td>
              <td>{j.storage}</td>
              <td>{j.paths.join(', ')}</td>
              <td>
                <Time iso={j.nextRun} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      {jobs.data?.length === 0 && <p>No job yet.</p>}
    </section>
  );
}

type Form = {
  name: string;
  agent: string;
  storage: string;
  vault: string;
  paths: string;
  excludes: string;
  schedule: string;
  retention: Record<string, string>;
  bwlimit: string;
  priority: string;
  paused: boolean;
};

const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');

function formOf(j: JobJson): Form {
  return {
    name: j.name,
    agent: j.agent,
    storage: j.storage,
    vault: j.vault,
    paths: j.paths.join('\n'),
    excludes: j.excludes.join('\n'),
    schedule: j.schedule.map((s) => `${s.cron} ${s.level}`).join('\n'),
    retention: Object.fromEntries(Object.entries(j.retention).map(([k, v]) => [k, String(v)])),
    bwlimit: j.bwlimit === null ? '' : String(j.bwlimit),
    priority: String(j.priority),
    paused: j.paused,
  };
}

/** The request body from the form: lines become lists, `CRON LEVEL` lines schedules, empty numbers are left out. */
function bodyOf(f: Form, creating: boolean): Record<string, unknown> {
  const schedule = lines(f.schedule).map((l) => {
    const parts = l.split(/\s+/);
    const level = parts.length > 5 ? parts.pop()! : 'incremental';
    return { cron: parts.join(' '), level };
  });
  const retention = Object.fromEntries(Object.entries(f.retention).filter(([, v]) => v.trim() !== '').map(([k, v]) => [k, Number(v)]));
  const body: Record<string, unknown> = { paths: lines(f.paths), excludes: lines(f.excludes), schedule, retention };
  if (f.priority.trim() !== '') body.priority = Number(f.priority);
  if (creating) {
    Object.assign(body, { name: f.name, agent: f.agent, storage: f.storage, vault: f.vault });
    if (f.bwlimit.trim() !== '') body.bwlimit = Number(f.bwlimit);
  } else {
    body.bwlimit = f.bwlimit.trim() === '' ? 0 : Number(f.bwlimit);
    body.paused = f.paused;
  }
  return body;
}

const EMPTY: Form = { name: '', agent: '', storage: '', vault: '', paths: '', excludes: '', schedule: '', retention: {}, bwlimit: '', priority: '', paused: false };

export function JobEdit({ name }: { name?: string }) {
  const session = useSession();
  const creating = name === undefined;
  const job = useLoad((signal) => (creating ? Promise.resolve(undefined) : call<JobJson>(CALLS.job, { params: { name }, signal })), `job:${name ?? ''}`);
  const agents = useLoad((signal) => call<PartJson[]>(CALLS.agents, { signal }), 'agents');
  const storages = useLoad((signal) => call<PartJson[]>(CALLS.storages, { signal }), 'storages');
  const vaults = useLoad((signal) => call<VaultJson[]>(CALLS.vaults, { signal }), 'vaults');
  const [form, setForm] = useState<Form>(EMPTY);
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState<string | undefined>();
  useEffect(() => {
    if (job.data) setForm(formOf(job.data));
  }, [job.data]);
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const operate = mayOperate(session.role);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setSaved(undefined);
    try {
      const j = creating
        ? await call<JobJson>(CALLS.createJob, { body: bodyOf(form, true) })
        : await call<JobJson>(CALLS.editJob, { params: { name: name! }, body: bodyOf(form, false) });
      setSaved(`Job ${j.name} saved.`);
      if (creating) navigate(`/jobs/${encodeURIComponent(j.name)}`);
      else job.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const vaultChoices = (vaults.data ?? []).filter((v) => form.storage === '' || v.storage === form.storage);
  return (
    <section>
      <p>
        <Link to="/jobs">← Jobs</Link>
      </p>
      <h1>{creating ? 'New job' : `Job ${name}`}</h1>
      <ErrorLine error={job.error} />
      {!creating && job.data && (
        <p>
          <Link to={`/snapshots?job=${encodeURIComponent(name)}`}>Find files by name in this job</Link>
        </p>
      )}
      {!creating && job.data && operate && <RunNow name={name} />}
      <form className="job-form" onSubmit={submit} aria-label={creating ? 'New job' : `Settings of job ${name}`}>
        <fieldset disabled={!operate}>
          <legend>{creating ? 'What to back up, where' : 'Settings'}</legend>
          {creating && (
            <>
              <label>
                Name
                <input name="name" required value={form.name} onChange={set('name')} />
              </label>
              <label>
                Agent
                <select name="agent" required value={form.agent} onChange={set('agent')}>
                  <option value="">Choose an agent</option>
                  <NameOptions names={(agents.data ?? []).map((p) => p.name)} />
                </select>
              </label>
              <label>
                Storage server
                <select name="storage" required value={form.storage} onChange={set('storage')}>
                  <option value="">Choose a storage server</option>
                  <NameOptions names={(storages.data ?? []).map((p) => p.name)} />
                </select>
              </label>
              <label>
                Vault
                <select name="vault" required value={form.vault} onChange={set('vault')}>
                  <option value="">Choose a vault</option>
                  {vaultChoices.map((v) => (
                    <option key={v.name} value={v.name}>
                      {v.name} ({v.agents.length ? `keys on ${v.agents.join(', ')}` : 'no agent holds its keys'})
                    </option>
                  ))}
                </select>
              </label>
              <Command
                label="A new vault, or an agent given a vault's keys, needs the vault passphrase: run on your console"
                text={`cairn vault create VAULT --storage ${form.storage || 'STORAGE'} --passphrase-stdin\ncairn vault grant ${form.vault || 'VAULT'} --agent ${form.agent || 'AGENT'} --passphrase-stdin`}
              />
            </>
          )}
          <label>
            Paths (one per line)
            <textarea name="paths" required rows={3} value={form.paths} onChange={set('paths')} />
          </label>
          <label>
            Excludes (one pattern per line)
            <textarea name="excludes" rows={2} value={form.excludes} onChange={set('excludes')} />
          </label>
          <label>
            Schedule (one per line: five-field cron, then the level)
            <textarea name="schedule" rows={2} placeholder="0 3 * * * incremental" value={form.schedule} onChange={set('schedule')} />
          </label>
          <fieldset className="retention">
            <legend>Keep (retention)</legend>
            {RETENTION.map((k) => (
              <label key={k}>
                {k}
                <input
                  name={`keep-${k}`}
                  type="number"
                  min={1}
                  value={form.retention[k] ?? ''}
                  onChange={(e) => setForm((f) => ({ ...f, retention: { ...f.retention, [k]: e.target.value } }))}
                />
              </label>
            ))}
          </fieldset>
          <label>
            Bandwidth limit (bytes per second, empty for none)
            <input name="bwlimit" type="number" min={1} value={form.bwlimit} onChange={set('bwlimit')} />
          </label>
          <label>
            Priority (0–1000)
            <input name="priority" type="number" min={0} max={1000} value={form.priority} onChange={set('priority')} />
          </label>
          {!creating && (
            <label className="check">
              <input name="paused" type="checkbox" checked={form.paused} onChange={(e) => setForm((f) => ({ ...f, paused: e.target.checked }))} />
              Paused (the schedule does not fire)
            </label>
          )}
          {!creating && job.data && (
            <p>
              Next run: <Time iso={job.data.nextRun} />
            </p>
          )}
          <ErrorLine error={error} />
          {saved && <p role="status">{saved}</p>}
          <button type="submit">{creating ? 'Create job' : 'Save'}</button>
        </fieldset>
      </form>
    </section>
  );
}

function RunNow({ name }: { name: string }) {
  const [level, setLevel] = useState<Level>('incremental');
  const [error, setError] = useState<string | undefined>();
  const [estimate, setEstimate] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setError(undefined);
    try {
      const r = await call<RunJson>(CALLS.runJob, { params: { name }, body: { level } });
      navigate(`/runs/${r.id}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const estimateNow = async () => {
    if (busy) return;
    setError(undefined);
    setBusy(true);
    try {
      const e = await call<{ files: number; bytes: number }>(CALLS.estimateJob, { params: { name }, body: { level } });
      setEstimate(`A ${level} run would read ${e.files} files, ${bytes(e.bytes)}.`);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="run-now" role="group" aria-label="Run now">
      <label>
        Level
        <select name="level" value={level} onChange={(e) => setLevel(e.target.value as Level)}>
          <NameOptions names={LEVELS} />
        </select>
      </label>
      <button type="button" onClick={() => void run()}>
        Run now
      </button>
      <button type="button" onClick={() => void estimateNow()} aria-disabled={busy}>
        {busy ? 'Estimating…' : 'Estimate'}
      </button>
      {estimate && <p role="status">{estimate}</p>}
      <ErrorLine error={error} />
    </div>
  );
}

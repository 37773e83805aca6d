// The restore wizard: the files picked in the snapshot browser (or the whole snapshot), the agent
// and folder to restore to, the conflict policy; then a dry run whose pretreatment report (what
// would be written, conflicts, problems) is shown before the real restore, which the run page
// follows live. An agent that does not hold the vault's keys needs the passphrase: the wizard
// shows the CLI command for it instead.
import { type FormEvent, useState } from 'react';
import type { PartJson, RunJson, SnapshotJson, VaultJson } from '../../protocol/api-types.ts';
import type { RestorePretreatment } from '../../protocol/control.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { navigate } from '../router.tsx';
import { mayOperate, useSession } from '../session.tsx';
import { bytes } from '../time.tsx';
import { Command, ErrorLine, NameOptions } from '../widgets.tsx';

const POLL_MS = 500;
const FINISHED = new Set(['succeeded', 'failed', 'canceled']);
const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function finished(id: number): Promise<RunJson> {
  for (;;) {
    const run = await call<RunJson>(CALLS.run, { params: { id } });
    if (FINISHED.has(run.status)) return run;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

type Choice = { agent: string; to: string; conflict: 'rename' | 'skip' | 'overwrite' };

function Report({ run }: { run: RunJson }) {
  const p = run.pretreatment as RestorePretreatment | null;
  if (!p) return <p role="status">The check ended {run.status} without a report{run.error ? `: ${run.error}` : ''}.</p>;
  return (
    <section className="report" aria-label="Pretreatment report">
      <h3>Check {p.ok ? 'passed' : 'failed'}</h3>
      {p.plan && (
        <p>
          Would restore {p.plan.files} {p.plan.files === 1 ? 'file' : 'files'}, {bytes(p.plan.bytes)} ({p.plan.chunks} chunks) into {p.target}.
        </p>
      )}
      {p.conflictCounts && (
        <p>
          In the way: {p.conflictCounts.renamed} renamed, {p.conflictCounts.skipped} skipped, {p.conflictCounts.overwritten} overwritten.
        </p>
      )}
      {p.conflicts.length > 0 && (
        <ul>
          {p.conflicts.slice(0, 50).map((c) => (
            <li key={c.path}>
              <span className="path">{c.path}</span>: {c.action}
            </li>
          ))}
        </ul>
      )}
      {p.problems.length > 0 && (
        <ul className="error">
          {p.problems.map((m, i) => (
            <li key={i}>{m}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function RestoreWizard({ snapshot, include }: { snapshot: SnapshotJson; include: string[] }) {
  const session = useSession();
  const agents = useLoad((signal) => call<PartJson[]>(CALLS.agents, { signal }), 'agents');
  const vaults = useLoad((signal) => call<VaultJson[]>(CALLS.vaults, { signal }), 'vaults');
  const [choice, setChoice] = useState<Choice>({ agent: snapshot.agent, to: '/tmp/cairn-restore', conflict: 'rename' });
  const [checked, setChecked] = useState<{ run: RunJson; for: string } | undefined>();
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  if (!mayOperate(session.role)) return null;
  const request = { snapshot: snapshot.id, agent: choice.agent, to: choice.to, conflict: choice.conflict, ...(include.length ? { include } : {}) };
  const key = JSON.stringify(request);
  const holdsKeys = (vaults.data ?? []).find((v) => v.name === snapshot.vault)?.agents.includes(choice.agent) ?? true;
  const command = `cairn restore ${snapshot.id.slice(0, 12)} --agent ${quote(choice.agent)} --to ${quote(choice.to)} --conflict ${choice.conflict}${include.map((p) => ` --include ${quote(p)}`).join('')} --passphrase-stdin --wait`;
  const set = (k: keyof Choice) => (e: { target: { value: string } }) => setChoice((c) => ({ ...c, [k]: e.target.value }));
  const check = async (e: FormEvent) => {
    e.preventDefault();
    if (busy !== undefined) return;
    setError(undefined);
    setBusy('Checking…');
    try {
      const queued = await call<RunJson>(CALLS.restore, { body: { ...request, dryRun: true } });
      setChecked({ run: await finished(queued.id), for: key });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(undefined);
    }
  };
  const restore = async () => {
    setError(undefined);
    try {
      const run = await call<RunJson>(CALLS.restore, { body: request });
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const report = checked?.for === key ? checked.run : undefined;
  const ok = (report?.pretreatment as RestorePretreatment | null | undefined)?.ok === true && report?.status === 'succeeded';
  return (
    <section className="restore">
      <h2>Restore</h2>
      <p>{include.length === 0 ? 'The whole snapshot (pick files above to restore fewer).' : `${include.length} picked: ${include.join(', ')}`}</p>
      <form onSubmit={check} aria-label="Restore">
        <label>
          To agent
          <select name="agent" value={choice.agent} onChange={set('agent')}>
            <NameOptions names={agents.data?.map((a) => a.name) ?? [snapshot.agent]} />
          </select>
        </label>
        <label>
          Into folder (the snapshot's paths are recreated below it)
          <input name="to" required value={choice.to} onChange={set('to')} />
        </label>
        <label>
          When a file is in the way
          <select name="conflict" value={choice.conflict} onChange={set('conflict')}>
            <option value="rename">rename the existing file</option>
            <option value="skip">skip: keep the existing file</option>
            <option value="overwrite">overwrite it</option>
          </select>
        </label>
        {holdsKeys ? (
          <div className="buttons">
            {/* aria-disabled, not disabled: a disabled button drops the keyboard's focus to the page's body */}
            <button type="submit" aria-disabled={busy !== undefined}>
              {busy ?? 'Check (dry run)'}
            </button>{' '}
            <button type="button" disabled={!ok} onClick={() => void restore()}>
              Restore
            </button>
          </div>
        ) : (
          <Command label={`Agent ${choice.agent} does not hold the keys of vault ${snapshot.vault}: restoring there needs the vault passphrase, on your console:`} text={command} />
        )}
      </form>
      <ErrorLine error={error ?? agents.error} />
      {/* always there, so a screen reader announces the report when the check fills it */}
      <div aria-live="polite">{report && <Report run={report} />}</div>
    </section>
  );
}

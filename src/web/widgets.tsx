// Small pieces every page uses: a run's progress bar, a status badge, an error line.
import type { RunJson } from '../protocol/api-types.ts';

/** Percent done of a run: 100 once it ended well; while running, bytes read of bytes scanned. */
export function percentDone(run: Pick<RunJson, 'status' | 'bytesRead'> & { bytesScanned?: number; bytes?: number; phase?: string | null }): number {
  if (run.status === 'succeeded') return 100;
  const total = run.bytesScanned ?? 0;
  if (total <= 0) return 0;
  return Math.min(99, Math.floor((100 * (run.bytesRead ?? 0)) / total));
}

export function RunProgress({ run }: { run: RunJson }) {
  const pct = percentDone(run);
  const label = run.status === 'succeeded' ? 'done' : run.status === 'running' ? `${pct}%${run.phase ? ` (${run.phase})` : ''}` : run.status;
  return (
    <span className="progress" data-run={run.id}>
      <progress max={100} value={pct} aria-label={`run ${run.id} progress`} />
      <span className="progress-label" data-status={run.status}>
        {label}
      </span>
    </span>
  );
}

export function Status({ value }: { value: string }) {
  return <span className={`badge badge-${value}`}>{value}</span>;
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p className="error" role="alert">
      {error}
    </p>
  ) : null;
}

/** A command to run in a terminal, shown where the console does not act (passphrases, keys). */
export function Command({ text, label }: { text: string; label: string }) {
  return (
    <figure className="command">
      <figcaption>{label}</figcaption>
      <pre tabIndex={0}>
        <code>{text}</code>
      </pre>
    </figure>
  );
}

/** A table's header row of column names. */
export function Head({ cols }: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** <option>s for a list of named things (agents, storage servers, levels). */
export function NameOptions({ names }: { names: readonly string[] }) {
  return (
    <>
      {names.map((n) => (
        <option key={n} value={n}>
          {n}
        </option>
      ))}
    </>
  );
}

/** A labelled <select> of named things, read from the form by `name`. */
export function NameSelect({ label, name, names }: { label: string; name: string; names: readonly string[] }) {
  return (
    <label>
      {label}
      <select name={name} required>
        <NameOptions names={names} />
      </select>
    </label>
  );
}

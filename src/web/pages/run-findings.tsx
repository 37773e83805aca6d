// What a verify or gc run found, on its run page: the damaged files a verify (or a restore) named,
// with why, and what a gc freed (or, on append-only storage without the code, would free).
import type { RunJson } from '../../protocol/api-types.ts';
import { bytes } from '../time.tsx';
import { Command, Head } from '../widgets.tsx';

function Damaged({ run }: { run: RunJson }) {
  const ended = run.endedAt !== null;
  if (run.damagedTotal === 0)
    return run.kind === 'verify' && ended && run.status === 'succeeded' ? <p className="ok-line">No damaged file found.</p> : null;
  return (
    <>
      <h2>Damaged files</h2>
      <p>
        {run.damagedTotal} damaged file{run.damagedTotal === 1 ? '' : 's'}
        {run.damaged.length < run.damagedTotal ? `, the first ${run.damaged.length} listed` : ''}:
      </p>
      <div className="table-scroll" tabIndex={0}>
        <table className="damaged">
          <Head cols={['File', 'Why']} />
          <tbody>
            {run.damaged.map((d) => (
              <tr key={d.path} data-damaged={d.path}>
                <td className="path">{d.path}</td>
                <td>{d.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Freed({ run }: { run: RunJson }) {
  if (run.kind !== 'gc' || run.endedAt === null || run.status !== 'succeeded') return null;
  const would = run.confirmationNeeded === true;
  return (
    <>
      <h2>{would ? 'Would free' : 'Freed'}</h2>
      <dl className="facts gc-freed">
        <dt>Bytes</dt>
        <dd data-bytes-freed={run.bytesFreed ?? 0}>{bytes(run.bytesFreed ?? 0)}</dd>
        <dt>Chunks deleted</dt>
        <dd>{run.chunksDeleted ?? 0}</dd>
        <dt>Packs deleted</dt>
        <dd>{run.packsDeleted ?? 0}</dd>
        <dt>Packs rewritten</dt>
        <dd>{run.packsRewritten ?? 0}</dd>
      </dl>
      {would && (
        <Command
          label="This storage server is append-only: nothing is deleted until an admin confirms with the code in DATA/gc-confirm on its machine (on the Garbage collection page, or):"
          text={`cairn gc --storage ${run.storage ?? 'S'} --confirm CODE --wait`}
        />
      )}
    </>
  );
}

export function RunFindings({ run }: { run: RunJson }) {
  return (
    <>
      <Damaged run={run} />
      <Freed run={run} />
    </>
  );
}

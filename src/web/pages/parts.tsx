// Agents and storage servers: the list, one part's detail (version, address, certificate expiry,
// key fingerprint, RTT and throughput charts) and enrolling a new one (a one-time token and the command
// to run on the new machine).
import { useState } from 'react';
import type { PartJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { Link } from '../router.tsx';
import { mayOperate, useSession } from '../session.tsx';
import { bytes, Time } from '../time.tsx';
import { Command, ErrorLine, Status } from '../widgets.tsx';
import { NetCharts } from './net-charts.tsx';

type Kind = 'agent' | 'storage';
const plural = (kind: Kind) => (kind === 'agent' ? 'agents' : 'storages');
const title = (kind: Kind) => (kind === 'agent' ? 'Agents' : 'Storage servers');

function Enroll({ kind }: { kind: Kind }) {
  const [token, setToken] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const create = async () => {
    setError(undefined);
    try {
      setToken((await call<{ token: string }>(CALLS.createToken, { body: { kind } })).token);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const command =
    kind === 'agent'
      ? `cairn agent start --data /var/lib/cairn-agent --server ${location.origin} --token ${token} --name NAME`
      : `cairn storage start --data /var/lib/cairn-storage --listen 0.0.0.0:7443 --server ${location.origin} --token ${token} --name NAME`;
  return (
    <div className="enroll">
      <button type="button" onClick={() => void create()}>
        Enroll a new {kind === 'agent' ? 'agent' : 'storage server'}
      </button>
      <ErrorLine error={error} />
      {token && <Command label="Run this on the new machine (the token works once, for one hour):" text={command} />}
    </div>
  );
}

export function PartsPage({ kind }: { kind: Kind }) {
  const session = useSession();
  const parts = useLoad((signal) => call<PartJson[]>(kind === 'agent' ? CALLS.agents : CALLS.storages, { signal }), kind);
  const mayEnroll = kind === 'agent' ? mayOperate(session.role) : session.role === 'admin';
  return (
    <section>
      <h1>{title(kind)}</h1>
      <ErrorLine error={parts.error} />
      <div className="table-scroll" tabIndex={0}>
<table className="parts">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">RTT</th>
            <th scope="col">Version</th>
            <th scope="col">Last seen</th>
            {kind === 'agent' ? <th scope="col">Owner</th> : <th scope="col">Stored</th>}
          </tr>
        </thead>
        <tbody>
          {(parts.data ?? []).map((p) => (
            <tr key={p.name} data-name={p.name}>
              <td>
                <Link to={`/${plural(kind)}/${encodeURIComponent(p.name)}`}>{p.name}</Link>
              </td>
              <td>
                <Status value={p.status} />
              </td>
              <td>{p.rttMs === null ? '—' : `${p.rttMs.toFixed(1)} ms`}</td>
              <td>{p.version ?? '—'}</td>
              <td>
                <Time iso={p.lastSeen} />
              </td>
              <td>{kind === 'agent' ? (p.owner ?? '—') : bytes(p.bytesStored)}</td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      {parts.data?.length === 0 && <p>None enrolled yet.</p>}
      {mayEnroll && <Enroll kind={kind} />}
    </section>
  );
}

export function PartDetail({ kind, name }: { kind: Kind; name: string }) {
  const part = useLoad((signal) => call<PartJson>(kind === 'agent' ? CALLS.agent : CALLS.storage, { params: { name }, signal }), `${kind}:${name}`);
  const p = part.data;
  return (
    <section>
      <p>
        <Link to={`/${plural(kind)}`}>← {title(kind)}</Link>
      </p>
      <h1>
        {kind === 'agent' ? 'Agent' : 'Storage server'} {name}
      </h1>
      <ErrorLine error={part.error} />
      {p && (
        <dl className="facts">
          <dt>Status</dt>
          <dd>
            <Status value={p.status} />
          </dd>
          <dt>RTT</dt>
          <dd>{p.rttMs === null ? '—' : `${p.rttMs.toFixed(1)} ms`}</dd>
          <dt>Version</dt>
          <dd>{p.version ?? '—'}</dd>
          <dt>Address</dt>
          <dd>{p.address ?? '—'}</dd>
          <dt>Certificate expires</dt>
          <dd>
            <Time iso={p.certExpires} />
          </dd>
          {kind === 'agent' && (
            <>
              <dt>Key fingerprint</dt>
              <dd className="fingerprint">{p.keyFingerprint ?? '—'}</dd>
              <dt>Owner</dt>
              <dd>{p.owner ?? '—'}</dd>
            </>
          )}
          {kind === 'storage' && (
            <>
              <dt>Stored</dt>
              <dd>
                {bytes(p.bytesStored)} (dedup ratio {p.dedupRatio ? `${p.dedupRatio.toFixed(2)}×` : '—'})
              </dd>
              <dt>Disk free</dt>
              <dd>
                {bytes(p.diskFreeBytes)} of {bytes(p.diskTotalBytes)}
              </dd>
            </>
          )}
          <dt>Runs at once</dt>
          <dd>{p.maxRuns}</dd>
        </dl>
      )}
      <NetCharts kind={kind} name={name} />
    </section>
  );
}

// The network monitor: every part the caller may see with its status, RTT now and its p50/p99
// over the last hour and since when (GET /api/net/status, refreshed by part events), each with
// its RTT and throughput charts; and `net test` between an agent and a storage server for a role
// that may operate (the API checks the agent is the caller's).
import { type FormEvent, useState } from 'react';
import type { NetStatusJson, NetTestJson, PartJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useEvents, useLoad } from '../data.ts';
import { mayOperate, useSession } from '../session.tsx';
import { bytes, Time } from '../time.tsx';
import { ErrorLine, Head, NameSelect, Status } from '../widgets.tsx';
import { NetCharts } from './net-charts.tsx';

const ms = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} ms`);
const MIB = 1048576;

function NetTest({ agents, storages }: { agents: string[]; storages: string[] }) {
  const [result, setResult] = useState<NetTestJson | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setError(undefined);
    setResult(undefined);
    setBusy(true);
    try {
      setResult(await call<NetTestJson>(CALLS.netTest, { body: { agent: f.get('agent'), storage: f.get('storage'), bytes: Number(f.get('mib')) * MIB } }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="run-now" aria-label="Network test" onSubmit={(e) => void submit(e)}>
      <NameSelect label="From agent" name="agent" names={agents} />
      <NameSelect label="To storage server" name="storage" names={storages} />
      <label>
        MiB to send
        <input name="mib" type="number" min={1} max={1024} defaultValue={64} required />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'Testing…' : 'Test the network'}
      </button>
      <ErrorLine error={error} />
      {result && (
        <p role="status" className="net-result">
          Sent {bytes(result.bytes)} in {result.seconds.toFixed(2)} s: {bytes(result.throughputBytesPerSec)}/s, RTT {ms(result.rttMs)}.
        </p>
      )}
    </form>
  );
}

export function NetworkPage() {
  const session = useSession();
  const parts = useLoad((signal) => call<NetStatusJson[]>(CALLS.netStatus, { signal }), 'net-status');
  useEvents((e) => {
    if (e.type === 'part') parts.reload();
  });
  const operate = mayOperate(session.role);
  // the storage servers a net test may reach: every one the caller sees (its own agents come from net status)
  const storages = useLoad((signal) => (operate ? call<PartJson[]>(CALLS.storages, { signal }) : Promise.resolve([])), `net-storages:${operate}`);
  const list = parts.data ?? [];
  const agents = list.filter((p) => p.kind === 'agent').map((p) => p.name);
  return (
    <section>
      <h1>Network</h1>
      <ErrorLine error={parts.error} />
      <div className="table-scroll" tabIndex={0}>
        <table>
          <Head cols={['Part', 'Status', 'RTT now', 'RTT p50 (1 h)', 'RTT p99 (1 h)', 'Since', 'Last heartbeat']} />
          <tbody>
            {list.map((p) => (
              <tr key={`${p.kind}:${p.name}`} data-net={`${p.kind}:${p.name}`}>
                <td>
                  <a href={`#net-${p.kind}-${p.name}`}>
                    {p.kind} {p.name}
                  </a>
                </td>
                <td>
                  <Status value={p.status} />
                </td>
                <td>{ms(p.rttMs)}</td>
                <td>{ms(p.rttP50Ms)}</td>
                <td>{ms(p.rttP99Ms)}</td>
                <td>
                  <Time iso={p.since} />
                </td>
                <td>
                  <Time iso={p.lastSeen} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {parts.data?.length === 0 && <p>No part enrolled yet.</p>}
      {operate && agents.length > 0 && (storages.data?.length ?? 0) > 0 && (
        <>
          <h2>Network test</h2>
          <p>The agent sends random bytes to the storage server, which keeps nothing, and times five small requests.</p>
          <NetTest agents={agents} storages={(storages.data ?? []).map((s) => s.name)} />
        </>
      )}
      {list.map((p) => (
        <section key={`${p.kind}:${p.name}`} id={`net-${p.kind}-${p.name}`} aria-label={`${p.kind} ${p.name}`} className="net-part">
          <h2>
            {p.kind === 'agent' ? 'Agent' : 'Storage server'} {p.name}
          </h2>
          <NetCharts kind={p.kind} name={p.name} heading="h3" />
        </section>
      ))}
    </section>
  );
}

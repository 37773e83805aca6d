// A part's network charts over time (uPlot): RTT (the minute's mean and p99) from `net history`,
// and the throughput of each backup, restore and net test it took part in. The part's detail
// page and the network monitor both show them.
import { useMemo } from 'react';
import type { NetSampleJson, ThroughputJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { TimeChart } from '../chart.tsx';
import { useLoad } from '../data.ts';
import { ErrorLine } from '../widgets.tsx';

export type PartKind = 'agent' | 'storage';

export function NetCharts({ kind, name, heading: H = 'h2' }: { kind: PartKind; name: string; heading?: 'h2' | 'h3' }) {
  const history = useLoad((signal) => call<NetSampleJson[]>(CALLS.netHistory, { query: { part: `${kind}:${name}` }, signal }), `h:${kind}:${name}`);
  const chart = useMemo(() => {
    const samples = history.data ?? [];
    return {
      times: samples.map((s) => Date.parse(s.time) / 1000),
      series: [
        { label: 'RTT mean', values: samples.map((s) => s.rttMs), stroke: '#2d6a9f' },
        { label: 'RTT p99', values: samples.map((s) => s.rttP99Ms), stroke: '#b5651d' },
      ],
    };
  }, [history.data]);
  const moved = useLoad((signal) => call<ThroughputJson[]>(CALLS.netThroughput, { query: { [kind]: name }, signal }), `t:${kind}:${name}`);
  const throughput = useMemo(() => {
    const rows = [...(moved.data ?? [])].reverse(); // oldest first, as the chart's x axis runs
    return {
      times: rows.map((r) => Date.parse(r.time) / 1000),
      series: [{ label: 'MiB/s', values: rows.map((r) => r.bytesPerSec / 1048576), stroke: '#1d6b36' }],
    };
  }, [moved.data]);
  return (
    <>
      <H>Round-trip time, last 24 hours</H>
      <ErrorLine error={history.error} />
      {chart.times.length > 0 ? <TimeChart title={`RTT of ${name}`} unit="ms" times={chart.times} series={chart.series} /> : <p>No samples yet.</p>}
      <H>Throughput of backups, restores and net tests</H>
      <ErrorLine error={moved.error} />
      {throughput.times.length > 0 ? <TimeChart title={`Throughput of ${name}`} unit="MiB/s" times={throughput.times} series={throughput.series} /> : <p>Nothing moved yet.</p>}
    </>
  );
}

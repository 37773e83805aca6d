// A time-series chart (uPlot): x is seconds since the epoch, each series one line. uPlot draws on
// a canvas and sizes through the CSSOM, which the console's Content-Security-Policy allows.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export function TimeChart({ title, unit, times, series }: { title: string; unit: string; times: number[]; series: { label: string; values: (number | null)[]; stroke: string }[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(240, Math.min(900, el.clientWidth || 600));
    const plot = new uPlot(
      {
        title,
        width,
        height: 220,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, spanGaps: false }))],
        axes: [{}, { label: unit }],
      },
      [times, ...series.map((s) => s.values)],
      el,
    );
    return () => plot.destroy();
  }, [title, unit, times, series]);
  return <div className="chart" ref={box} role="img" aria-label={`${title}: ${times.length} samples`} />;
}

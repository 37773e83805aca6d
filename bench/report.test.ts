import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuSecondsOf } from './daemon.ts';
import { type RunRecord, summarize, toMarkdown } from './report.ts';

const sample = (seconds: number, cpu: Record<string, number | null>) => ({ seconds, peakRssKiB: 1024, newBytes: null, cpuSecondsPerGiB: cpu });

test('each process\'s CPU seconds per GiB: medians per phase and tool, a table row each', () => {
  const runs: RunRecord[] = [
    { tool: 'cairn', run: 1, phases: { restore: sample(5, { cli: 0.3, agent: 7, storage: 1 }) } },
    { tool: 'cairn', run: 2, phases: { restore: sample(6, { cli: 0.5, agent: 5, storage: null }) } },
    { tool: 'cairn', run: 3, phases: { restore: sample(4, { cli: 0.4, agent: 6, storage: 3 }) } },
    { tool: 'restic', run: 1, phases: { restore: sample(3, { cli: 4.25 }) } },
  ];
  const summary = summarize(runs, 2 ** 30);
  assert.deepEqual(summary.cairn?.restore?.medianProcessCpuPerGiB, { cli: 0.4, agent: 6, storage: 2 });
  const md = toMarkdown({ title: 't', dataset: { source: 's', files: 1, bytes: 2 ** 30, note: '' }, environment: {}, summary, targets: [], runs });
  assert.match(md, /\| phase \| tool \| cli \| agent \| storage \|/);
  assert.match(md, /\| full restore \| cairn \| 0\.40 \| 6\.00 \| 2\.00 \|/);
  assert.match(md, /\| full restore \| restic \| 4\.25 \| – \| – \|/);
});

test('cpuSecondsOf reads a live process\'s CPU time and gives null for one that is gone', () => {
  const start = Date.now();
  while (Date.now() - start < 50); // burn a little CPU so the figure is above zero
  const mine = cpuSecondsOf(process.pid);
  assert.ok(mine !== null && mine > 0, String(mine));
  assert.equal(cpuSecondsOf(2 ** 22 + 1), null);
});

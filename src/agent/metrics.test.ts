import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentMetrics } from './metrics.ts';

async function value(m: AgentMetrics, name: string, labels = ''): Promise<number | undefined> {
  const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

test("bytes read add each run's growth once: progress events and the result are cumulative per run", async () => {
  const m = new AgentMetrics();
  m.progress(1, { bytesRead: 100 });
  m.progress(2, { bytesRead: 50 });
  m.progress(1, { bytesRead: 300 });
  m.progress(1, { phase: 'uploading' }); // no counter: nothing added
  m.ended('backup', 2000, { run: 1, result: { bytesRead: 300 } });
  m.ended('verify', 500, { run: 2, error: { code: 'E_CORRUPT', message: 'damaged' } });
  assert.equal(await value(m, 'cairn_agent_bytes_read_total'), 350);
  assert.equal(await value(m, 'cairn_agent_run_duration_seconds_count', '{kind="backup",outcome="succeeded"}'), 1);
  assert.equal(await value(m, 'cairn_agent_run_duration_seconds_sum', '{kind="backup",outcome="succeeded"}'), 2);
  assert.equal(await value(m, 'cairn_agent_run_duration_seconds_count', '{kind="verify",outcome="failed"}'), 1);
});

test('bytes sent add up; the running gauge asks the run tracker at scrape time', async () => {
  const m = new AgentMetrics();
  m.sent(1000);
  m.sent(24);
  assert.equal(await value(m, 'cairn_agent_bytes_sent_total'), 1024);
  assert.equal(await value(m, 'cairn_agent_runs_running'), 0);
  let running = 2;
  m.countRunning(() => running);
  assert.equal(await value(m, 'cairn_agent_runs_running'), 2);
  running = 0;
  assert.equal(await value(m, 'cairn_agent_runs_running'), 0);
});

// `cairn agent start --nice N` on a real cluster: every thread of the agent process runs at the
// value (/proc/PID/task/*/stat, field 19), a restart from --data alone keeps it (agent.json),
// and values setpriority(2) would not take are refused with exit 2, the saved settings unchanged.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Cluster, startCluster } from './support/cluster.ts';
import { runCairn } from './support/cli.ts';

/** The nice value of every thread of process `pid`. */
function threadNices(pid: number): number[] {
  const dir = `/proc/${pid}/task`;
  // field 19 of stat, counted after the parenthesised command name (which may hold spaces)
  return readdirSync(dir).map((t) => Number(readFileSync(join(dir, t, 'stat'), 'utf8').replace(/^.*\) /s, '').split(' ')[16]));
}

describe('agent start --nice', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  let c: Cluster;

  before(async () => {
    c = await startCluster({ agents: [] });
    await c.addAgent('calm', ['--nice', '10']);
  });
  after(async () => {
    await c?.stop();
  });

  const settings = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'agent.json'), 'utf8')) as { nice?: number };

  it('runs every thread of the agent at the nice value, and keeps it across a restart', async () => {
    const agent = c.agents.get('calm')!;
    const nices = threadNices(agent.process.pid!);
    assert.ok(nices.length > 1, 'the agent has threads besides the main one');
    assert.deepEqual(nices, Array(nices.length).fill(10));
    assert.equal(settings(agent.dataDir).nice, 10);

    const again = await c.restartAgent('calm');
    await c.waitOnline('agent', 'calm');
    const after = threadNices(again.process.pid!);
    assert.deepEqual(after, Array(after.length).fill(10), 'a start without --nice applies the saved value');
  });

  it('refuses values outside -20..19 or not whole numbers with exit 2, changing nothing', async () => {
    const { dataDir } = c.agents.get('calm')!;
    const saved = readFileSync(join(dataDir, 'agent.json'), 'utf8');
    for (const bad of ['20', '-21', '2.5', 'low', '']) {
      const r = await runCairn(['agent', 'start', '--data', dataDir, `--nice=${bad}`]);
      assert.equal(r.code, 2, `--nice=${bad}: ${r.stderr}`);
      assert.match(r.stderr, /agent start: --nice must be a whole number from -20 \(most CPU\) to 19 \(least\)/);
      assert.equal(r.stdout, '');
    }
    assert.equal(readFileSync(join(dataDir, 'agent.json'), 'utf8'), saved);
    assert.equal(c.agents.get('calm')!.process.exitCode, null, 'the running agent is untouched');
  });
});

// `job estimate` on the real processes: one estimate per agent at a time (a second one is refused
// 409 naming the agent, by the server and by the agent), and a console that goes away (Ctrl-C
// closes its request) cancels the estimate on the agent, whose slot is free at once. The agent
// holds each estimate CAIRN_TEST_ESTIMATE_DELAY_MS before walking, so one stays in flight.
// (An auditor's estimate refused 403: test/api-bad-input.test.ts.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { pollUntil } from './support/crash-support.ts';
import { errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { CAIRN_BIN } from './support/storage-process.ts';

const DELAY_MS = 2500;
type Estimate = { files: number; bytes: number; level: string };

describe('job estimate: one per agent, cancelable', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;

  before(async () => {
    c = await startCluster({ agents: ['ea'], storages: ['es'], env: { CAIRN_TEST: '1', CAIRN_TEST_ESTIMATE_DELAY_MS: String(DELAY_MS) } });
    api = rawApi(c);
    const src = join(tempDir('cairn-estimate-src-'), 'data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'b.txt'), 'beta beta\n');
    for (const name of ['e1', 'e2']) {
      const made = await c.cli(['job', 'create', name, '--agent', 'ea', '--storage', 'es', '--path', src]);
      assert.equal(made.code, 0, made.stderr);
    }
  });
  after(async () => {
    await c?.stop();
  });

  it('refuses a second estimate on the same agent while one runs (409), then takes the next', async () => {
    const first = api.call('/api/jobs/e1/estimate', { body: { level: 'full' } });
    await new Promise((r) => setTimeout(r, DELAY_MS / 4));
    // another job on the same agent: the agent is busy, not the job
    const second = await api.call('/api/jobs/e2/estimate', { body: { level: 'full' } });
    assert.equal(second.status, 409, second.text);
    assert.deepEqual(errorOf(second), { code: 'E_CONFLICT', message: 'an estimate is already running on agent ea' });
    const cli = await c.cli(['job', 'estimate', 'e2', '--level', 'full']);
    assert.equal(cli.code, 1, cli.stderr);
    assert.equal(cli.stderr.trim(), 'cairn: an estimate is already running on agent ea');
    const done = await first;
    assert.equal(done.status, 201, done.text);
    assert.deepEqual(done.json as Estimate, { files: 2, bytes: 16, level: 'full', parent: null });
    // the slot is free once the first answered
    const next = await api.call('/api/jobs/e2/estimate', { body: { level: 'full' } });
    assert.equal(next.status, 201, next.text);
  });

  it("a console's Ctrl-C cancels the estimate on the agent, and the agent takes the next at once", async () => {
    const agent = c.agents.get('ea')!;
    const before = agent.stderr().split('estimate canceled').length;
    const env = { ...process.env, CAIRN_CONFIG: join(dirname(c.serverDir), 'cli.json') };
    const console = spawn(CAIRN_BIN, ['job', 'estimate', 'e1', '--level', 'full'], { env, stdio: 'ignore' });
    const exited = new Promise<void>((r) => console.once('exit', () => r()));
    await new Promise((r) => setTimeout(r, DELAY_MS / 2));
    console.kill('SIGINT');
    await exited;
    await pollUntil('the agent hears the cancel', () => agent.stderr().split('estimate canceled').length > before, 250);
    assert.match(agent.stderr(), /estimate canceled: the console that asked went away/);
    // neither the server nor the agent still counts the canceled one
    const next = await api.call('/api/jobs/e2/estimate', { body: { level: 'full' } });
    assert.equal(next.status, 201, next.text);
  });
});

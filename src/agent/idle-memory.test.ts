// The agent's collections after a run: one on the next turn once no run executes (so a run
// started at once does not add the ended run's dead rings and arenas to its own peak), one more
// after the idle delay, none while a run executes, none after stop().
import assert from 'node:assert/strict';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { IdleMemory } from './idle-memory.ts';

describe('IdleMemory', () => {
  const saved = { test: process.env.CAIRN_TEST, delay: process.env.CAIRN_TEST_AGENT_IDLE_COLLECT_MS };
  beforeEach(() => {
    process.env.CAIRN_TEST = '1';
    process.env.CAIRN_TEST_AGENT_IDLE_COLLECT_MS = '150';
  });
  afterEach(() => {
    for (const [key, value] of [['CAIRN_TEST', saved.test], ['CAIRN_TEST_AGENT_IDLE_COLLECT_MS', saved.delay]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('collects on the next turn after a run ends, and again after the idle delay', async () => {
    let collections = 0;
    const idle = new IdleMemory(() => 0, () => collections++);
    idle.runEnded();
    assert.equal(collections, 0, 'not inside the run end itself (its report goes first)');
    await nextTurn();
    assert.equal(collections, 1, 'the ended run left its buffers dead until the idle delay');
    await sleep(250);
    assert.equal(collections, 2);
    idle.stop();
  });

  it('two runs ending in the same turn collect once on the next turn', async () => {
    let collections = 0;
    const idle = new IdleMemory(() => 0, () => collections++);
    idle.runEnded();
    idle.runEnded();
    await nextTurn();
    assert.equal(collections, 1);
    idle.stop();
  });

  it('does not collect while a run executes, nor after stop()', async () => {
    let running = 1;
    let collections = 0;
    const idle = new IdleMemory(() => running, () => collections++);
    idle.runEnded();
    await nextTurn();
    await sleep(250);
    assert.equal(collections, 0, 'collected while another run executed');
    running = 0;
    idle.runEnded();
    idle.stop();
    await nextTurn();
    await sleep(250);
    assert.equal(collections, 0, 'collected after stop()');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, DEFAULT_LIMITS, type QueuedRun, type RunningRun } from './queue.ts';

const agent = (id: number, online = true, maxRuns: number | null = null) => ({ id, name: `a${id}`, online, maxRuns });
const storage = (id: number, online = true, maxRuns: number | null = null) => ({ id, name: `s${id}`, online, maxRuns });
let next = 1;
function q(over: Partial<QueuedRun> = {}): QueuedRun {
  return { id: next++, kind: 'backup', job: null, agent: agent(1), storage: storage(1), priority: 0, retry: null, ...over };
}

test('limits: per agent (restores exempt), per storage, global; a part\'s own limit wins', () => {
  const running: RunningRun[] = [{ kind: 'backup', jobId: 9, agentId: 1, storageId: 1 }];
  const d = decide([q(), q({ kind: 'restore' }), q({ agent: agent(2, true, 3) }), q({ agent: agent(3) })], running, { global: 3, perAgent: 1, perStorage: 3 }, 0);
  assert.deepEqual(d.map((x) => (x.start ? 'start' : x.reason)), ['agent a1 at its limit of 1', 'start', 'start', 'storage s1 at its limit of 3']);
  const g = decide([q({ agent: agent(2) }), q({ agent: agent(3), storage: storage(2) })], running, { global: 2, perAgent: 1, perStorage: 4 }, 0);
  assert.deepEqual(g.map((x) => (x.start ? 'start' : x.reason)), ['start', 'global limit of 2']);
});

test('the first reason that applies wins; one backup per job; retries wait for their time', () => {
  const job = { id: 5, name: 'home' };
  const running: RunningRun[] = [{ kind: 'backup', jobId: 5, agentId: 1, storageId: 1 }];
  const d = decide(
    [
      q({ job, agent: agent(1, false) }),
      q({ agent: agent(2, false), storage: storage(2, false) }),
      q({ agent: agent(3), storage: storage(2, false) }),
      q({ agent: agent(4), storage: storage(3), retry: { attempt: 2, of: 1, retries: 2, notBefore: 60_000, after: 1 } }),
      q({ agent: agent(4), storage: storage(3), retry: { attempt: 2, of: 1, retries: 2, notBefore: 500, after: 1 } }),
    ],
    running,
    DEFAULT_LIMITS,
    1000,
  );
  assert.deepEqual(d.map((x) => (x.start ? 'start' : x.reason)), [
    'job home is already running',
    'agent a2 offline',
    'storage s2 offline',
    `retry 1 of 2 at ${new Date(60_000).toISOString()} after run 1 failed`,
    'start',
  ]);
});

test('a gc has no agent, counts per storage server, and waits for another gc of the same one', () => {
  const running: RunningRun[] = [{ kind: 'gc', jobId: null, agentId: null, storageId: 1 }];
  const d = decide([q({ kind: 'gc', agent: null }), q({ kind: 'gc', agent: null, storage: storage(2, false) }), q({ kind: 'gc', agent: null, storage: storage(3) })], running, { global: 8, perAgent: 1, perStorage: 4 }, 0);
  assert.deepEqual(d.map((x) => (x.start ? 'start' : x.reason)), ['gc of storage s1 is already running', 'storage s2 offline', 'start']);
});

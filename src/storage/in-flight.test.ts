import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { InFlight } from './in-flight.ts';

describe('in-flight work of a stopping storage server', () => {
  it('waits for what runs, refuses what comes after stop, and gives up after the grace', async () => {
    const work = new InFlight();
    let finish!: () => void;
    const slow = work.run(() => new Promise<void>((resolve) => (finish = resolve)));
    const failing = work.run(async () => Promise.reject(new Error('client gone'))).catch(() => 'failed');
    let drained = false;
    const draining = work.drained(5000).then((left) => {
      drained = true;
      return left;
    });
    await assert.rejects(work.run(async () => 'late'), (e) => isCairnError(e, 'E_UNAVAILABLE') && /shutting down/.test(e.message));
    assert.equal(await failing, 'failed');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(drained, false, 'still running: not drained');
    finish();
    await slow;
    assert.equal(await draining, 0);

    const stuck = new InFlight();
    const handlers = stuck.wrap({ hang: () => new Promise<never>(() => {}) });
    void handlers.hang!();
    assert.equal(await stuck.drained(50), 1, 'after the grace: one still running');
  });
});

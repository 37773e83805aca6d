// The agent's run bookkeeping in-process, with a recording `report` standing in for the server's
// runEnded: a run is accepted at once and its end reported when it ends; a repeated start is
// accepted without starting it again; ends kept while offline are re-sent on flush until
// answered, and named by unfinished() until then; refusals end the bookkeeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError } from '../core/errors.ts';
import type { RunEndedParams } from '../protocol/control.ts';
import { canceledError } from './run-context.ts';
import { RunTracker } from './run-tracker.ts';

/** A promise and its resolvers. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A tracker whose report answers with whatever `answer` says; every attempt is recorded. */
function tracker(answer: (end: RunEndedParams) => Promise<unknown> = async () => ({})) {
  const sent: RunEndedParams[] = [];
  const lines: string[] = [];
  const link = { online: true };
  let delivered = deferred<RunEndedParams>();
  const t = new RunTracker({
    report: async (end) => {
      sent.push(end);
      const reply = await answer(end);
      delivered.resolve(end);
      delivered = deferred();
      return reply;
    },
    online: () => link.online,
    log: (line) => lines.push(line),
    retryMs: 20,
  });
  return { t, sent, lines, link, nextDelivery: () => delivered.promise };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('run tracker', () => {
  it('accepts a run at once and reports its result when it ends', async () => {
    const { t, sent, nextDelivery } = tracker();
    const work = deferred<{ snapshot: string }>();
    assert.deepEqual(
      t.start(1, 'backup', () => work.promise),
      { accepted: true },
    );
    assert.deepEqual([t.running(), t.unfinished()], [[1], [1]]);
    const delivered = nextDelivery();
    work.resolve({ snapshot: 'abc' });
    assert.deepEqual(await delivered, { run: 1, result: { snapshot: 'abc' } });
    assert.deepEqual(sent, [{ run: 1, result: { snapshot: 'abc' } }]);
    await tick();
    assert.deepEqual([t.running(), t.unfinished()], [[], []]);
  });

  it('does not start a run twice while it runs or while its end is pending', async () => {
    const { t, link } = tracker();
    link.online = false;
    let starts = 0;
    const work = deferred();
    const body = () => {
      starts++;
      return work.promise;
    };
    t.start(4, 'backup', body);
    assert.deepEqual(t.start(4, 'backup', body), { accepted: true });
    work.resolve();
    await tick();
    assert.deepEqual([t.running(), t.unfinished()], [[], [4]], 'ended, not yet reported');
    assert.deepEqual(t.start(4, 'backup', body), { accepted: true });
    assert.equal(starts, 1);
  });

  it('keeps an end while offline, re-sends it after a failed send, and forgets it once answered', async () => {
    let answers = 0;
    const { t, sent, link, nextDelivery } = tracker(async () => {
      if (++answers === 1) throw new CairnError('E_UNAVAILABLE', 'link to the backup server dropped: gone');
      return {};
    });
    link.online = false;
    t.start(2, 'verify', async () => {
      throw new CairnError('E_CORRUPT', 'pack damaged');
    });
    await tick();
    assert.deepEqual(sent, [], 'offline: nothing sent');
    assert.deepEqual(t.unfinished(), [2]);
    link.online = true;
    t.flush(); // the welcome
    await tick();
    assert.equal(sent.length, 1, 'the first send failed with the link');
    assert.deepEqual(t.unfinished(), [2], 'still pending');
    const delivered = nextDelivery();
    t.flush(); // the next welcome
    t.flush(); // twice at once: sent once
    await delivered;
    await tick();
    assert.deepEqual(sent, [
      { run: 2, error: { code: 'E_CORRUPT', message: 'pack damaged' } },
      { run: 2, error: { code: 'E_CORRUPT', message: 'pack damaged' } },
    ]);
    assert.deepEqual(t.unfinished(), []);
  });

  it('retries an end the server answered E_UNAVAILABLE on a live link', async () => {
    let answers = 0;
    const { t, sent } = tracker(async () => {
      if (++answers === 1) throw new CairnError('E_UNAVAILABLE', 'catalog busy');
      return {};
    });
    t.start(3, 'restore', async () => ({ files: 1 }));
    for (let i = 0; i < 100 && t.unfinished().length > 0; i++) await tick();
    assert.equal(sent.length, 2);
    assert.deepEqual(t.unfinished(), []);
  });

  it('reports a refused result as the run failed, and drops a refused error end', async () => {
    const { t, sent, lines } = tracker(async () => {
      throw new CairnError('E_BAD_REQUEST', 'runEnded: bad result');
    });
    t.start(5, 'backup', async () => ({ odd: true }));
    for (let i = 0; i < 100 && t.unfinished().length > 0; i++) await tick();
    assert.deepEqual(sent, [
      { run: 5, result: { odd: true } },
      { run: 5, error: { code: 'E_BAD_REQUEST', message: 'result not recorded: runEnded: bad result' } },
    ]);
    assert.deepEqual(t.unfinished(), []);
    assert.ok(lines.some((l) => /not sent again/.test(l)), lines.join('\n'));
  });

  it('ends a canceled run with E_CONFLICT canceled, and a stop aborts runs and reports nothing', async () => {
    const { t, sent, nextDelivery } = tracker();
    const untilAborted = (signal: AbortSignal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('stopped by the signal'))));
    t.start(6, 'backup', untilAborted);
    const delivered = nextDelivery();
    assert.equal(t.abort(6, canceledError()), true);
    assert.equal(t.abort(99, canceledError()), false);
    assert.deepEqual(await delivered, { run: 6, error: { code: 'E_CONFLICT', message: 'canceled' } });

    t.start(7, 'backup', untilAborted);
    await t.stop(canceledError());
    await tick();
    assert.equal(sent.length, 1, 'nothing reported for the stopped run');
    assert.deepEqual(t.unfinished(), []);
    assert.throws(() => t.start(8, 'backup', untilAborted), /stopping/);
  });
});

// A run's server calls across link drops, against an in-memory twin of the control link (the
// real ControlClient over a real socket is in agent-daemon.test.ts): a call that failed with the
// link is sent again once the link is back, a server's own E_UNAVAILABLE is not retried, the
// waiting is bounded, and a canceled run stops waiting at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError, isCairnError } from '../core/errors.ts';
import { callAcrossDrops, type ServerLink } from './server-call.ts';

/** A link that is up or down; a call on a down link fails as ControlClient's does, and `answer` answers the others. */
class LinkTwin implements ServerLink {
  connected = true;
  calls: string[] = [];
  #waiters: ((up: boolean) => void)[] = [];
  answer: (method: string) => unknown = () => ({});

  async call(method: string): Promise<unknown> {
    this.calls.push(method);
    if (!this.connected) throw new CairnError('E_UNAVAILABLE', 'not connected to the backup server');
    return this.answer(method);
  }

  /** the link drops under the call in flight */
  drop(): void {
    this.connected = false;
  }

  up(): void {
    this.connected = true;
    for (const w of this.#waiters.splice(0)) w(true);
  }

  waitConnected(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      signal?.addEventListener('abort', () => reject(signal.reason));
      this.#waiters.push((up) => {
        clearTimeout(timer);
        resolve(up);
      });
    });
  }
}

describe('a run calling the server across link drops', () => {
  it('sends the call again once the link is back', async () => {
    const link = new LinkTwin();
    link.drop();
    const lines: string[] = [];
    const call = callAcrossDrops(link, { giveUpMs: 5000, log: (l) => lines.push(l) });
    const answered = call('snapshotCreated', {});
    setTimeout(() => link.up(), 30);
    assert.deepEqual(await answered, {});
    assert.deepEqual(link.calls, ['snapshotCreated', 'snapshotCreated']);
    assert.match(lines.join('\n'), /snapshotCreated: not connected to the backup server; waiting/);
  });

  it('fails at once on the server’s own E_UNAVAILABLE, the link being up', async () => {
    const link = new LinkTwin();
    link.answer = () => {
      throw new CairnError('E_UNAVAILABLE', 'storage server offline');
    };
    await assert.rejects(callAcrossDrops(link, { giveUpMs: 5000 })('renewGrant', {}), /storage server offline/);
    assert.equal(link.calls.length, 1);
  });

  it('gives up when the link stays down, and passes other errors through', async () => {
    const link = new LinkTwin();
    link.drop();
    const started = performance.now();
    await assert.rejects(
      callAcrossDrops(link, { giveUpMs: 50 })('snapshotIndex', {}),
      (e) => isCairnError(e, 'E_UNAVAILABLE') && /stayed unreachable/.test(e.message),
    );
    assert.ok(performance.now() - started >= 45);
    link.up();
    link.answer = () => {
      throw new CairnError('E_NOT_FOUND', 'no run 9');
    };
    await assert.rejects(callAcrossDrops(link, { giveUpMs: 50 })('snapshotIndex', {}), /no run 9/);
  });

  it('stops waiting when the run is canceled', async () => {
    const link = new LinkTwin();
    link.drop();
    const controller = new AbortController();
    const call = callAcrossDrops(link, { giveUpMs: 60_000, signal: controller.signal });
    const pending = call('renewGrant', {});
    setTimeout(() => controller.abort(new CairnError('E_CONFLICT', 'canceled')), 20);
    await assert.rejects(pending, /canceled/);
  });
});

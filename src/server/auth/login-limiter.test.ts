import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CairnError, isCairnError, TooManyError } from '../../core/errors.ts';
import { LoginLimiter, TOO_MANY_AT_ONCE } from './login-limiter.ts';

const MIN = 60_000;

/** A limiter on a clock the test moves, and a count of the password checks it let run. */
function clocked(opts: { maxKeys?: number } = {}) {
  let now = 1_000_000;
  const limiter = new LoginLimiter({ now: () => now, ...opts });
  const counted = { checks: 0 };
  const wrong = async () => {
    counted.checks++;
    throw new CairnError('E_UNAUTHORIZED', 'wrong user name or password');
  };
  const right = async () => {
    counted.checks++;
    return 'session';
  };
  return { limiter, counted, wrong, right, advance: (ms: number) => (now += ms) };
}

/** The refusal for failures, with the wait it names in its message and in Retry-After. */
const waits = (seconds?: number) => (e: unknown) => {
  assert.ok(e instanceof TooManyError, String(e));
  const m = /^too many failed logins; try again in (\d+) s$/.exec(e.message);
  assert.ok(m, e.message);
  assert.equal(e.retryAfterSeconds, Number(m[1]));
  if (seconds !== undefined) assert.equal(e.retryAfterSeconds, seconds);
  return true;
};
const unauthorized = (e: unknown) => isCairnError(e, 'E_UNAUTHORIZED');

/** A check that waits until the test lets it end. */
function pending() {
  let finish!: (ok: boolean) => void;
  const done = new Promise<boolean>((resolve) => (finish = resolve));
  let began = false;
  return {
    check: async () => {
      began = true;
      if (!(await done)) throw new CairnError('E_UNAUTHORIZED', 'wrong user name or password');
      return 'session';
    },
    finish: (ok: boolean) => finish(ok),
    began: () => began,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('the 6th attempt on one name from one address within 15 min is refused without a password check', async () => {
  const { limiter, counted, wrong, right, advance } = clocked();
  for (let i = 0; i < 5; i++) {
    await assert.rejects(limiter.attempt('ann', '192.0.2.1', wrong), unauthorized);
    advance(MIN);
  }
  // failures at 0..4 min, now 5 min: the oldest leaves the window at 15 min
  await assert.rejects(limiter.attempt('ann', '192.0.2.1', right), waits(600));
  assert.equal(counted.checks, 5, 'the refused attempt ran no check');
  advance(10 * MIN - 1);
  await assert.rejects(limiter.attempt('ann', '192.0.2.1', right), waits(1));
  advance(1);
  assert.equal(await limiter.attempt('ann', '192.0.2.1', right), 'session', 'the oldest failure left the window');
  assert.equal(counted.checks, 6);
});

test('a refusal is not a failure: knocking while refused does not prolong the wait', async () => {
  const { limiter, counted, wrong, advance } = clocked();
  for (let i = 0; i < 5; i++) await assert.rejects(limiter.attempt('ann', '192.0.2.1', wrong), unauthorized);
  for (let i = 0; i < 100; i++) {
    advance(8_000);
    await assert.rejects(limiter.attempt('ann', '192.0.2.1', wrong), waits());
  }
  advance(15 * MIN - 800_000); // exactly 15 min after the five failures
  await assert.rejects(limiter.attempt('ann', '192.0.2.1', wrong), unauthorized, 'admitted: all five left the window');
  assert.equal(counted.checks, 6);
});

test('20 failures from one address refuse any name from it; other addresses are not affected', async () => {
  const { limiter, counted, wrong, right, advance } = clocked();
  for (let i = 0; i < 20; i++) {
    await assert.rejects(limiter.attempt(`user${i}`, '198.51.100.7', wrong), unauthorized);
    advance(1000);
  }
  await assert.rejects(limiter.attempt('someone-else', '198.51.100.7', right), waits(900 - 20));
  await assert.rejects(limiter.attempt('user0', '198.51.100.7', right), waits());
  assert.equal(await limiter.attempt('user0', '198.51.100.8', right), 'session');
  assert.equal(counted.checks, 21);
});

test('a name is never locked for addresses that have not failed', async () => {
  const { limiter, counted, wrong, right } = clocked();
  for (let a = 1; a <= 10; a++) for (let i = 0; i < 5; i++) await assert.rejects(limiter.attempt('ann', `203.0.113.${a}`, wrong), unauthorized);
  await assert.rejects(limiter.attempt('ann', '203.0.113.1', right), waits());
  assert.equal(await limiter.attempt('ann', '203.0.113.99', right), 'session');
  assert.equal(counted.checks, 51);
});

test('attempts in flight count as failures: a burst gets no more checks than the limit', async () => {
  const { limiter } = clocked();
  const first = Array.from({ length: 5 }, () => pending());
  const running = first.map((p) => limiter.attempt('ann', '192.0.2.1', p.check));
  await settle();
  const later = pending();
  await assert.rejects(limiter.attempt('ann', '192.0.2.1', later.check), waits(900));
  assert.equal(later.began(), false);
  // the five succeed: they were never failures, so the next attempt is admitted
  for (const p of first) p.finish(true);
  assert.deepEqual(await Promise.all(running), Array(5).fill('session'));
  const again = pending();
  const admitted = limiter.attempt('ann', '192.0.2.1', again.check);
  again.finish(false);
  await assert.rejects(admitted, unauthorized);
  assert.equal(again.began(), true);
});

test('in-flight attempts count per address too', async () => {
  const { limiter, counted, right } = clocked();
  const held = Array.from({ length: 20 }, () => pending());
  const running = held.map((p, i) => limiter.attempt(`user${i}`, '192.0.2.1', p.check));
  await settle();
  await assert.rejects(limiter.attempt('another', '192.0.2.1', right), waits(900));
  assert.equal(counted.checks, 0);
  for (const p of held) p.finish(true);
  await Promise.all(running);
});

test('a success clears the failures of its (name, address) but not those of the address', async () => {
  const { limiter, wrong, right } = clocked();
  for (let i = 0; i < 4; i++) await assert.rejects(limiter.attempt('ann', '192.0.2.1', wrong), unauthorized);
  assert.equal(await limiter.attempt('ann', '192.0.2.1', right), 'session');
  for (let i = 0; i < 4; i++) await assert.rejects(limiter.attempt('ann', '192.0.2.1', wrong), unauthorized); // 4 again: admitted
  // the address has 8 failures; 12 more on other names fill it to 20
  for (let i = 0; i < 12; i++) await assert.rejects(limiter.attempt(`u${i}`, '192.0.2.1', wrong), unauthorized);
  await assert.rejects(limiter.attempt('ann', '192.0.2.1', right), waits());
});

test('only a wrong name or password is a failure', async () => {
  const { limiter, right } = clocked();
  for (let i = 0; i < 10; i++)
    await assert.rejects(
      limiter.attempt('ann', '192.0.2.1', async () => {
        throw new CairnError('E_INTERNAL', 'a stored password hash is malformed');
      }),
      (e) => isCairnError(e, 'E_INTERNAL'),
    );
  assert.equal(await limiter.attempt('ann', '192.0.2.1', right), 'session');
});

test('an IPv4 peer seen as ::ffff:a.b.c.d is the same address', async () => {
  const { limiter, wrong, right } = clocked();
  for (let i = 0; i < 5; i++) await assert.rejects(limiter.attempt('ann', '::ffff:192.0.2.1', wrong), unauthorized);
  await assert.rejects(limiter.attempt('ann', '192.0.2.1', right), waits());
});

test('4 checks run at once and 16 wait; a 21st is refused without a check and counts as nothing', async () => {
  const { limiter, counted, right } = clocked();
  const held = Array.from({ length: 20 }, () => pending());
  // 20 addresses, one name each: no window is near its limit
  const running = held.map((p, i) => limiter.attempt(`user${i}`, `10.0.0.${i}`, p.check).then(() => 'session', (e: unknown) => e));
  await settle();
  assert.equal(held.filter((p) => p.began()).length, 4, 'four run, sixteen wait');
  await assert.rejects(limiter.attempt('late', '10.0.1.1', right), (e) => {
    assert.ok(e instanceof TooManyError);
    assert.equal(e.message, TOO_MANY_AT_ONCE);
    assert.equal(e.retryAfterSeconds, 1);
    return true;
  });
  assert.equal(counted.checks, 0);
  held[0]!.finish(false);
  await settle();
  assert.equal(held.filter((p) => p.began()).length, 5, 'the freed slot passed to the next waiter');
  const late = limiter.attempt('late', '10.0.1.1', right); // one place in the queue is free again
  for (const p of held) p.finish(true);
  const outcomes = await Promise.all(running);
  assert.ok(unauthorized(outcomes[0]));
  assert.deepEqual(outcomes.slice(1), Array(19).fill('session'));
  assert.equal(await late, 'session');
  for (let i = 0; i < 4; i++) await assert.rejects(limiter.attempt('late', '10.0.1.1', async () => Promise.reject(new CairnError('E_UNAUTHORIZED', 'wrong'))), unauthorized);
  // the refusal at once was no failure: 4 failures after a success, the 5th attempt is admitted
  await limiter.attempt('late', '10.0.1.1', right);
});

test('memory stays bounded: expired keys are dropped and at most maxKeys are tracked, the stalest forgotten', async () => {
  const { limiter, wrong, right, advance } = clocked({ maxKeys: 50 });
  for (let i = 0; i < 100; i++) {
    await assert.rejects(limiter.attempt('ann', `10.1.0.${i}`, wrong), unauthorized);
    advance(1);
  }
  assert.equal(limiter.trackedKeys, 50);
  // the stalest (the first addresses) were forgotten, the latest still count their failure
  for (let i = 0; i < 4; i++) await assert.rejects(limiter.attempt('ann', '10.1.0.99', wrong), unauthorized);
  await assert.rejects(limiter.attempt('ann', '10.1.0.99', right), waits());
  for (let i = 0; i < 4; i++) await assert.rejects(limiter.attempt('ann', '10.1.0.0', wrong), unauthorized);
  assert.equal(await limiter.attempt('ann', '10.1.0.0', right), 'session', "the first address's failure was forgotten");
  advance(15 * MIN);
  await assert.rejects(limiter.attempt('bob', '10.2.0.1', wrong), unauthorized);
  assert.equal(limiter.trackedKeys, 2, 'every key whose failures left the window is gone');
});

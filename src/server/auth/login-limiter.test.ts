import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { LoginLimiter } from './login-limiter.ts';

const tooMany = (e: unknown) => isCairnError(e, 'E_UNAUTHORIZED') && /too many failed logins; try again in \d+ s/.test(e.message);

test('five failures per user are allowed, the sixth attempt is blocked, a success resets', () => {
  const limiter = new LoginLimiter({ now: () => 1_000_000 });
  for (let i = 0; i < 5; i++) {
    limiter.check('ann', `10.0.0.${i}`);
    limiter.failed('ann', `10.0.0.${i}`);
  }
  assert.throws(() => limiter.check('ann', '10.0.0.99'), tooMany);
  limiter.check('bob', '10.0.0.99'); // another user from a fresh address is not affected
  limiter.succeeded('ann', '10.0.0.0');
  limiter.check('ann', '10.0.0.99');
});

test('five failures from one address block that address for any user', () => {
  const limiter = new LoginLimiter({ now: () => 0 });
  for (const user of ['a', 'b', 'c', 'd', 'e']) limiter.failed(user, '192.0.2.1');
  assert.throws(() => limiter.check('f', '192.0.2.1'), tooMany);
  limiter.check('f', '192.0.2.2');
});

test('failures leave the window after 15 minutes and the wait says how long', () => {
  let now = 0;
  const limiter = new LoginLimiter({ now: () => now });
  for (let i = 0; i < 5; i++) {
    limiter.failed('ann', 'x');
    now += 60_000;
  }
  // oldest failure at 0, now = 300 s: the block lifts at 900 s
  assert.throws(() => limiter.check('ann', 'y'), (e) => isCairnError(e) && /in 600 s/.test(e.message));
  now = 900_000;
  limiter.check('ann', 'y');
});

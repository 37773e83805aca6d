// Login throttling on a real server over real HTTPS (issue 13 item 2): a burst of wrong passwords
// for one user gets no more password checks than the limit and 429s saying how long to wait; the
// right password from that address waits too, from another address it logs in; `cairn login`
// prints the refusal; the block lifts when the window has passed; and beyond 4 checks running and
// 16 waiting, logins are refused at once. Password checks are counted by the server itself
// (CAIRN_TEST_PASSWORD_CHECKS_FILE), not guessed from timing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { auditCount, auditSince, errorOf, type RawAnswer, type RawApi, rawApi } from './support/raw-api.ts';
import { TestClock } from './support/test-clock.ts';

const ANN_PASSWORD = 'ann-password-for-tests';
const FAILED = /^too many failed logins; try again in (\d+) s$/;
const AT_ONCE = 'too many logins at once; try again';

describe('login throttling', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  const dir = tempDir('cairn-logins-');
  const checksFile = join(dir, 'password-checks.json');
  const clock = new TestClock();

  /** What the server wrote: password checks begun, and the most in progress at once. */
  const checks = () => JSON.parse(readFileSync(checksFile, 'utf8')) as { begun: number; peak: number };
  const login = (user: string, password: string, localAddress: string) =>
    api.call('/api/login', { body: { user, password }, token: null, localAddress });
  /** A 429 whose message and Retry-After say the same wait; the seconds. */
  const refusedFor = (a: RawAnswer): number => {
    assert.equal(a.status, 429, a.text);
    const { code, message } = errorOf(a);
    assert.equal(code, 'E_TOO_MANY');
    const m = FAILED.exec(message ?? '');
    assert.ok(m, message);
    assert.equal(a.headers['retry-after'], m[1]);
    return Number(m[1]);
  };

  before(async () => {
    c = await startCluster({ env: { ...clock.env(), CAIRN_TEST_PASSWORD_CHECKS_FILE: checksFile } });
    api = rawApi(c);
    const added = await c.cli(['user', 'add', 'ann', '--role', 'user', '--password-stdin'], `${ANN_PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await c?.stop();
  });

  it('50 concurrent wrong passwords for one user get 5 password checks; the other 45 are answered 429', async () => {
    const before = checks().begun;
    const audited = await auditCount(api);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => login('ann', `wrong-password-${i}`, '127.0.0.1')));
    const wrong = answers.filter((a) => a.status === 401);
    const refused = answers.filter((a) => a.status !== 401);
    assert.equal(wrong.length, 5, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
    for (const a of wrong) assert.equal(errorOf(a).message, 'wrong user name or password');
    for (const a of refused) assert.ok(refusedFor(a) > 890 && refusedFor(a) <= 900, a.text);
    assert.equal(checks().begun - before, 5, 'the server checked 5 passwords, not 50');
    const entries = await auditSince(api, audited);
    assert.equal(entries.filter((e) => e.what === 'POST /api/login' && e.result === 'E_TOO_MANY').length, 45);
    assert.equal(entries.filter((e) => e.what === 'POST /api/login' && e.result === 'E_UNAUTHORIZED').length, 5);
  });

  it('the right password is refused from that address during the window (whatever X-Forwarded-For says), and accepted from another', async () => {
    const before = checks().begun;
    refusedFor(await login('ann', ANN_PASSWORD, '127.0.0.1'));
    // the address is the TCP peer's: a header naming another does not help
    const forwarded = { 'x-forwarded-for': '127.0.0.2', forwarded: 'for=127.0.0.2' };
    refusedFor(await api.call('/api/login', { body: { user: 'ann', password: ANN_PASSWORD }, token: null, localAddress: '127.0.0.1', headers: forwarded }));
    assert.equal(checks().begun, before, 'refused without a check');
    const elsewhere = await login('ann', ANN_PASSWORD, '127.0.0.2');
    assert.equal(elsewhere.status, 200, elsewhere.text);
    assert.equal((elsewhere.json as { user: string }).user, 'ann');
    assert.equal(checks().begun, before + 1);
  });

  it('cairn login prints the refusal as its one-line error, exit 1, and saves no login', async () => {
    const config = join(dir, 'ann-cli.json');
    const r = await c.cli(['login', c.url, '--user', 'ann', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${ANN_PASSWORD}\n`, {
      CAIRN_CONFIG: config,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^cairn: too many failed logins; try again in \d+ s\n$/);
    assert.equal(r.stdout, '');
    assert.equal(existsSync(config), false);
  });

  it('once the oldest failure has left the 15-minute window, the right password logs in again', async () => {
    clock.set(Date.now() + 15 * 60 * 1000 + 5000);
    const config = join(dir, 'ann-cli-later.json');
    const r = await c.cli(['login', c.url, '--user', 'ann', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${ANN_PASSWORD}\n`, {
      CAIRN_CONFIG: config,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `logged in to ${c.url} as ann\n`);
    assert.equal(existsSync(config), true);
  });

  it('beyond 4 checks running and 16 waiting, logins are refused at once without a check', async () => {
    const before = checks().begun;
    // 3 addresses × 20 names: no window refuses any of the 60, only the bound on checks does
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => login(`nobody${i}`, 'wrong-password', `127.0.0.${3 + (i % 3)}`)),
    );
    const wrong = answers.filter((a) => a.status === 401);
    const refused = answers.filter((a) => a.status !== 401);
    for (const a of refused) {
      assert.equal(a.status, 429, a.text);
      assert.deepEqual(errorOf(a), { code: 'E_TOO_MANY', message: AT_ONCE });
      assert.equal(a.headers['retry-after'], '1');
    }
    assert.ok(refused.length > 0, 'some of 60 at once were refused');
    assert.equal(checks().begun - before, wrong.length, 'every login answered 401 had its check, no refused one did');
    assert.ok(checks().peak <= 4, `at most 4 checks in progress at once (saw ${checks().peak})`);
  });
});

// Webhook alerts on the real processes, with small HTTP receivers in this test: a storage server
// killed raises part.offline (signature checked here with the secret `alert add` printed), then
// part.online after its restart; run.failed and run.succeeded; a receiver answering 500 twice
// gets the alert on the third try and `alert list` shows it; a scheduled job whose agent stays
// offline raises job.overdue (the server's clock moved forward); a delivery queued while the
// receiver is down survives a server restart; a server restart announces no part; a verify that
// finds damage raises verify.damaged; slots missed while the server was down raise schedule.missed;
// the catalog's disk figures raise storage.low-space and a certificate near its end
// cert.expiring; non-admins,
// bad URLs and unknown events are refused and nothing stored changes.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { ALERT_EVENTS, type AlertBody, type AlertHookJson, alertSignature, type NewAlertHookJson } from '../src/protocol/alerts.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { incompressibleTree, pollUntil } from './support/crash-support.ts';
import { type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused, httpRefused } from './support/refusals.ts';
import { TestClock } from './support/test-clock.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'alerts test passphrase' };
const DAY = 24 * 3600_000;
const GIB = 1024 ** 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Got = { body: AlertBody; raw: string; signature: string | undefined };

/** A webhook receiver: records what it accepted; `answer` picks each status (200 by default). */
class Receiver {
  readonly got: Got[] = [];
  tries = 0;
  answer: (tries: number) => number = () => 200;
  #server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.answer(++this.tries);
        const raw = Buffer.concat(chunks).toString('utf8');
        if (status === 200) this.got.push({ body: JSON.parse(raw) as AlertBody, raw, signature: req.headers['x-cairn-signature'] as string | undefined });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(port, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((r) => this.#server?.close(r));
  }

  of(event: string, subject?: string): Got[] {
    return this.got.filter((g) => g.body.event === event && (subject === undefined || g.body.subject === subject));
  }

  async waitFor(event: string, subject?: string, count = 1): Promise<Got> {
    await pollUntil(`${event}${subject ? ` about ${subject}` : ''} at the receiver (got ${this.got.map((g) => `${g.body.event} ${g.body.subject}`).join('; ')})`, () => this.of(event, subject).length >= count);
    return this.of(event, subject)[count - 1]!;
  }
}

describe('alerts', { concurrency: 1 }, () => {
  const clock = new TestClock();
  let c: Cluster;
  let api: RawApi;
  const main = new Receiver();
  let mainHook: NewAlertHookJson;
  const src = incompressibleTree(join(tempDir('cairn-alerts-src-'), 'data'), 2, 1);
  const hooks = async () => c.json<AlertHookJson[]>(['alert', 'list']);

  before(async () => {
    await main.start();
    c = await startCluster({
      agents: ['a1'],
      storages: ['s1'],
      // a storage server that reports its disk (not on every branch) reports the same 5 GiB free the test writes
      env: { ...clock.env(), CAIRN_TEST_ALERT_BACKOFF_MS: '300', CAIRN_TEST_ALERT_CHECK_MS: '200', CAIRN_TEST_DISK_FREE_BYTES: String(5 * GIB) },
    });
    api = rawApi(c);
    for (const [name, path] of [['good', src], ['bad', join(src, 'no-such-folder')]] as const) {
      const r = await c.cli(['job', 'create', name, '--agent', 'a1', '--storage', 's1', '--path', path], undefined, PASSPHRASE);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await c?.stop();
    await main.stop();
  });

  it('refuses a non-admin (403, exit 1), a bad URL and an unknown event (exit 2, 400), storing nothing', async () => {
    const op = await c.cli(['user', 'add', 'op', '--role', 'operator', '--password-stdin'], 'operator-password-for-tests\n');
    assert.equal(op.code, 0, op.stderr);
    const asOp = { CAIRN_CONFIG: join(tempDir('cairn-alerts-op-'), 'cli.json') };
    const login = await c.cli(['login', c.url, '--user', 'op', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'operator-password-for-tests\n', asOp);
    assert.equal(login.code, 0, login.stderr);
    const opToken = (JSON.parse(readFileSync(asOp.CAIRN_CONFIG, 'utf8')) as { token: string }).token;
    const forbidden = { exit: 1 as const, env: asOp };
    await cliRefused(c, api, ['alert', 'list'], { ...forbidden, message: /role operator may not GET \/api\/alerts/ });
    await cliRefused(c, api, ['alert', 'add', '--url', main.url, '--on', 'run.failed'], {
      ...forbidden,
      message: /role operator may not POST \/api\/alerts/,
      audit: { what: 'POST /api/alerts', result: 'E_FORBIDDEN', who: 'op' },
    });
    await cliRefused(c, api, ['alert', 'remove', '1'], {
      ...forbidden,
      message: /role operator may not DELETE \/api\/alerts\/:id/,
      audit: { what: 'DELETE /api/alerts/1', result: 'E_FORBIDDEN', who: 'op' },
    });
    await httpRefused(api, '/api/alerts', { token: opToken }, { status: 403, code: 'E_FORBIDDEN', message: /role operator may not GET/ });
    await httpRefused(api, '/api/alerts', { token: opToken, body: { url: main.url, events: ['run.failed'] } }, {
      status: 403,
      code: 'E_FORBIDDEN',
      message: /role operator may not POST/,
      audit: { what: 'POST /api/alerts', result: 'E_FORBIDDEN', who: 'op' },
    });

    const usage = { exit: 2 as const };
    await cliRefused(c, api, ['alert', 'add', '--url', 'ftp://example.com/x', '--on', 'run.failed'], { ...usage, message: /--url must be http or https, not ftp/ });
    await cliRefused(c, api, ['alert', 'add', '--url', 'not a url', '--on', 'run.failed'], { ...usage, message: /--url is not a URL/ });
    await cliRefused(c, api, ['alert', 'add', '--url', main.url, '--on', 'run.failed,run.exploded'], {
      ...usage,
      message: new RegExp(`unknown event run.exploded; events are ${ALERT_EVENTS.join(', ').replace(/\./g, '\\.')}$`),
    });
    await cliRefused(c, api, ['alert', 'add', '--url', main.url], { ...usage, message: /--on is required/ });
    await cliRefused(c, api, ['alert', 'add', '--on', 'run.failed'], { ...usage, message: /--url is required/ });
    await cliRefused(c, api, ['alert', 'remove', '1', '2'], { ...usage, message: /expected 1 argument/ });
    await cliRefused(c, api, ['alert', 'remove', '99'], { exit: 1, message: /no alert 99/, audit: { what: 'DELETE /api/alerts/99', result: 'E_NOT_FOUND' } });
    await cliRefused(c, api, ['alert', 'remove', 'x1'], { exit: 1, message: /no alert x1/, audit: { what: 'DELETE /api/alerts/x1', result: 'E_NOT_FOUND' } });
    const refusedBody = (body: unknown, message: RegExp) =>
      httpRefused(api, '/api/alerts', { body }, { status: 400, code: 'E_BAD_REQUEST', message, audit: { what: 'POST /api/alerts', result: 'E_BAD_REQUEST' } });
    await refusedBody({ url: 'file:///etc/passwd', events: ['run.failed'] }, /^url: must be http or https, not file$/);
    await refusedBody({ url: 'nope', events: ['run.failed'] }, /^url: is not a URL/);
    await refusedBody({ url: main.url, events: ['run.exploded'] }, /^events\[0\]: must be one of run\.failed, /);
    await refusedBody({ url: main.url, events: [] }, /^events: must have at least 1 items$/);
    await refusedBody({ url: main.url, events: ['run.failed'], secret: 'mine' }, /secret/);
    assert.deepEqual(await hooks(), [], 'no hook was stored');
  });

  it('adds a hook, printing its secret once; the list never shows it', async () => {
    mainHook = await c.json<NewAlertHookJson>(['alert', 'add', '--url', main.url, '--on', 'part.offline,part.online', '--on', 'run.failed,run.succeeded,job.overdue']);
    assert.match(mainHook.secret, /^[0-9a-f]{64}$/);
    assert.deepEqual(mainHook.events, ['part.offline', 'part.online', 'run.failed', 'run.succeeded', 'job.overdue']);
    const text = await c.cli(['alert', 'list']);
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, new RegExp(mainHook.secret));
    const [listed] = await hooks();
    const { secret: _secret, ...shown } = mainHook;
    assert.deepEqual(listed, shown);
    assert.deepEqual(Object.keys(listed!).sort(), ['createdAt', 'dropped', 'events', 'id', 'lastDelivery', 'pending', 'url']);
    assert.equal(listed!.lastDelivery, null);
  });

  it('a storage server killed raises part.offline, signed, then part.online after its restart', async () => {
    await c.storages.get('s1')!.stop('SIGKILL');
    const offline = await main.waitFor('part.offline', 'storage s1');
    assert.equal(offline.signature, alertSignature(mainHook.secret, offline.raw), 'X-Cairn-Signature is the HMAC of the exact body');
    assert.notEqual(offline.signature, alertSignature('another secret', offline.raw));
    assert.deepEqual(Object.keys(offline.body).sort(), ['detail', 'event', 'subject', 'time']);
    const detail = offline.body.detail as { name: string; status: string };
    assert.equal(detail.name, 's1');
    assert.equal(detail.status, 'offline');
    assert.ok(Math.abs(Date.parse(offline.body.time) - Date.now()) < 60_000);
    await c.restartStorage('s1');
    const online = await main.waitFor('part.online', 'storage s1');
    assert.equal(online.signature, alertSignature(mainHook.secret, online.raw));
    assert.equal((online.body.detail as { status: string }).status, 'online');
    assert.equal(main.of('part.offline', 'storage s1').length, 1, 'one offline per outage');
  });

  it('a run that ends raises run.failed or run.succeeded with the run as its detail', async () => {
    const bad = await c.cli(['job', 'run', 'bad', '--wait', '--json']);
    assert.equal(bad.code, 1, bad.stderr);
    const failedRun = JSON.parse(bad.stdout) as RunJson;
    const failed = await main.waitFor('run.failed', `run ${failedRun.id}`);
    const detail = failed.body.detail as RunJson;
    assert.equal(detail.status, 'failed');
    assert.equal(detail.job, 'bad');
    assert.deepEqual(detail, await c.json<RunJson>(['run', 'show', String(failedRun.id)]), 'the detail is what run show --json prints');
    const good = await c.json<RunJson>(['job', 'run', 'good', '--wait']);
    assert.equal(good.status, 'succeeded');
    await main.waitFor('run.succeeded', `run ${good.id}`);
    assert.equal(main.of('run.failed', `run ${good.id}`).length, 0);
  });

  it('a receiver answering 500 twice gets the alert on the third try, and alert list shows it', async () => {
    const flaky = await new Receiver().start();
    flaky.answer = (tries) => (tries <= 2 ? 500 : 200);
    const hook = await c.json<NewAlertHookJson>(['alert', 'add', '--url', flaky.url, '--on', 'run.succeeded']);
    const run = await c.json<RunJson>(['job', 'run', 'good', '--wait']);
    assert.equal(run.status, 'succeeded');
    const got = await flaky.waitFor('run.succeeded', `run ${run.id}`);
    assert.equal(flaky.tries, 3);
    assert.equal(got.signature, alertSignature(hook.secret, got.raw));
    await pollUntil('alert list shows the delivery', async () => (await hooks()).find((h) => h.id === hook.id)?.lastDelivery?.status === 200);
    const listed = (await hooks()).find((h) => h.id === hook.id)!;
    assert.deepEqual({ ...listed.lastDelivery, time: undefined }, { event: 'run.succeeded', status: 200, attempts: 3, time: undefined });
    assert.equal(listed.pending, 0);
    assert.equal(listed.dropped, 0);
    const removed = await c.cli(['alert', 'remove', String(hook.id)]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual((await hooks()).map((h) => h.id), [mainHook.id]);
    await flaky.stop();
  });

  it('a scheduled job whose agent stays offline raises job.overdue once its interval has passed twice', async () => {
    const r = await c.cli(['job', 'create', 'nightly', '--agent', 'a1', '--storage', 's1', '--path', src, '--schedule', '0 3 * * *=incremental'], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    await c.agents.get('a1')!.stop();
    await main.waitFor('part.offline', 'agent a1');
    await sleep(1000);
    assert.equal(main.of('job.overdue').length, 0, 'not overdue yet');
    clock.set(Date.now() + 3 * DAY); // a daily schedule: overdue after 48 h without a backup
    const overdue = await main.waitFor('job.overdue', 'job nightly');
    const detail = overdue.body.detail as { name: string; agent: string; lastSuccessAt: string | null };
    assert.equal(detail.name, 'nightly');
    assert.equal(detail.agent, 'a1');
    assert.equal(detail.lastSuccessAt, null);
    assert.equal(main.of('job.overdue', 'job good').length, 0, 'a job without schedules is never overdue');
    await sleep(1000);
    assert.equal(main.of('job.overdue', 'job nightly').length, 1, 'raised once, not at every check');
    clock.set(Date.now());
    await c.restartAgent('a1');
    await main.waitFor('part.online', 'agent a1');
    // the slot that fired while the agent was away runs now
    await pollUntil('the waiting nightly backup ran', () => main.of('run.succeeded').some((g) => (g.body.detail as RunJson).job === 'nightly'));
  });

  it('a delivery queued while the receiver is down survives a server restart, and the restart announces no part', async () => {
    const port = main.port;
    await main.stop();
    const before = main.got.length;
    const run = await c.json<RunJson>(['job', 'run', 'good', '--wait']);
    assert.equal(run.status, 'succeeded');
    await pollUntil('the first try failed', async () => (await hooks())[0]?.lastDelivery?.status === 'ECONNREFUSED');
    assert.equal((await hooks())[0]!.pending, 1);
    await c.restartServer();
    await c.waitOnline('storage', 's1');
    await c.waitOnline('agent', 'a1');
    await main.start(port);
    const got = await main.waitFor('run.succeeded', `run ${run.id}`);
    assert.equal(got.signature, alertSignature(mainHook.secret, got.raw));
    await pollUntil('delivered', async () => (await hooks())[0]?.pending === 0);
    await sleep(1000);
    const events = main.got.slice(before).map((g) => `${g.body.event} ${g.body.subject}`);
    assert.deepEqual(events, [`run.succeeded run ${run.id}`], 'no part.offline or part.online for a restart');
  });

  it('a verify that finds damage raises verify.damaged with the run as its detail', async () => {
    const other = await new Receiver().start();
    await c.json<NewAlertHookJson>(['alert', 'add', '--url', other.url, '--on', 'verify.damaged']);
    const dir = join(tempDir('cairn-alerts-verify-'), 'tree');
    incompressibleTree(dir, 1, 1);
    const made = await c.cli(['job', 'create', 'checked', '--agent', 'a1', '--storage', 's1', '--path', dir], undefined, PASSPHRASE);
    assert.equal(made.code, 0, made.stderr);
    const backup = await c.json<RunJson>(['job', 'run', 'checked', '--wait']);
    assert.equal(backup.status, 'succeeded');
    const clean = await c.cli(['verify', backup.snapshot!, '--level', 'disk', '--wait', '--json']);
    assert.equal(clean.code, 0, clean.stderr);
    writeFileSync(join(dir, 'changed-after-the-backup'), 'new');
    const r = await c.cli(['verify', backup.snapshot!, '--level', 'disk', '--wait', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const verify = JSON.parse(r.stdout) as RunJson;
    const got = await other.waitFor('verify.damaged', `run ${verify.id}`);
    assert.equal((got.body.detail as RunJson).damagedTotal, verify.damagedTotal);
    assert.ok(verify.damagedTotal > 0);
    assert.equal(other.got.length, 1, 'the clean verify raised nothing');
    await other.stop();
  });

  it('after a restart: missed slots raise schedule.missed, the disk figures storage.low-space, a certificate near its end cert.expiring', async () => {
    const other = await new Receiver().start();
    await c.json<NewAlertHookJson>(['alert', 'add', '--url', other.url, '--on', 'schedule.missed,storage.low-space,cert.expiring']);
    await sleep(1000);
    assert.deepEqual(other.got, [], 'none of them holds yet');
    await c.server.stop();
    const catalog = new DatabaseSync(join(c.serverDir, 'catalog.db'));
    const certExpires = Date.now() + DAY; // a year's certificate with a day left
    catalog.prepare('UPDATE agents SET cert_expires = ? WHERE name = ?').run(certExpires, 'a1');
    catalog.prepare('UPDATE storages SET disk_free = ?, disk_total = ? WHERE name = ?').run(5 * GIB, 100 * GIB, 's1');
    catalog.close();
    // the overdue test left the nightly job's schedule evaluated up to three days ahead: past that, a 03:00 slot is missed
    clock.set(Date.now() + 4.5 * DAY);
    await c.restartServer();
    const missed = await other.waitFor('schedule.missed', 'job nightly');
    const job = missed.body.detail as { name: string; missedSlots: number; level: string };
    assert.equal(job.name, 'nightly');
    assert.ok(job.missedSlots >= 1);
    assert.equal(job.level, 'incremental');
    const low = await other.waitFor('storage.low-space', 'storage s1');
    assert.equal((low.body.detail as { diskFreeBytes: number }).diskFreeBytes, 5 * GIB);
    const cert = await other.waitFor('cert.expiring', 'agent a1');
    assert.equal((cert.body.detail as { certExpires: string }).certExpires, new Date(certExpires).toISOString());
    await sleep(1000);
    assert.equal(other.of('storage.low-space').length, 1, 'once a day, not at every check');
    assert.equal(other.of('cert.expiring').length, 1);
    assert.equal(other.of('cert.expiring', 'storage s1').length, 0, "the storage server's certificate is young");
    clock.set(Date.now());
    await other.stop();
  });
});

// The web console in Debian's Chromium against a real cluster (issue 14), as an admin: log in,
// see the parts online, create a job in the form, run it and watch its progress bar reach done,
// browse a snapshot holding a hostile file name (no dialog, no console error), restore one file
// through the wizard (dry-run report, then the restore, found on disk), a cookie POST
// without the CSRF token refused; every page checked by axe-core and for sideways scrolling.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../support/cluster.ts';
import { checkPage, consoleForTests, HOSTILE_NAME, logIn, MANY } from './harness.ts';

describe('the web console as an admin', { concurrency: 1 }, () => {
  const t = consoleForTests();

  it('logs in and shows the dashboard with every part online', async () => {
    const { k, con } = t;
    const { page } = con;
    await logIn(page, 'admin', k.c.adminPassword);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    for (const part of ['agent:a1', 'agent:u1', 'storage:s1']) {
      await page.locator(`tr[data-part="${part}"] .badge`).filter({ hasText: 'online' }).waitFor();
    }
    // times in the browser's zone, UTC on hover
    const since = page.locator('tr[data-part="agent:a1"] time');
    const utc = /^\d{4}-\d\d-\d\d (\d\d:\d\d):\d\d UTC$/.exec((await since.getAttribute('title')) ?? '');
    assert.ok(utc, 'the UTC time on hover');
    assert.doesNotMatch((await since.textContent()) ?? '', new RegExp(utc[1]!), 'shown in the browser zone (UTC+5:30), not in UTC');
    assert.equal(await since.textContent(), await page.evaluate<string>(`new Date(${JSON.stringify(await since.getAttribute('datetime'))}).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })`));
    await checkPage(page, 'dashboard');
  });

  it('lists agents and storage servers, shows one with its RTT chart, and enrolls a new agent with a command', async () => {
    const { con } = t;
    const { page } = con;
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.locator('tr[data-name="a1"] .badge', { hasText: 'online' }).waitFor();
    assert.equal(await page.locator('tr[data-name="u1"]').count(), 1, 'an admin sees every agent');
    await page.getByRole('button', { name: 'Enroll a new agent' }).click();
    const command = await page.locator('.command code').textContent();
    assert.match(command ?? '', /^cairn agent start --data \S+ --server https:\/\/127\.0\.0\.1:\d+ --token \S+ --name NAME$/);
    await checkPage(page, 'agents');
    await page.getByRole('link', { name: 'a1', exact: true }).click();
    await page.getByRole('heading', { name: 'Agent a1' }).waitFor();
    assert.match((await page.locator('dd.fingerprint').textContent()) ?? '', /^[0-9a-f]{64}$/);
    await page.getByRole('img', { name: /^RTT of a1: \d+ samples$/ }).locator('canvas').waitFor();
    await page.getByRole('img', { name: /^Throughput of a1: [1-9]\d* samples$/ }).locator('canvas').waitFor(); // the seed run
    await checkPage(page, 'agent');
    await page.getByRole('link', { name: 'Storage servers' }).click();
    await page.locator('tr[data-name="s1"] .badge', { hasText: 'online' }).waitFor();
    await checkPage(page, 'storages');
  });

  it('creates a job in the form, runs it now and watches the progress bar reach done', async () => {
    const { k, con } = t;
    const { page } = con;
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.locator('tr[data-job="seed"]').waitFor();
    await checkPage(page, 'jobs');
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Name').fill('web-made');
    await page.getByLabel('Agent').selectOption('a1');
    await page.getByLabel('Storage server').selectOption('s1');
    await page.getByLabel('Vault').selectOption(k.vault);
    await page.getByLabel('Paths (one per line)').fill(k.data);
    await page.getByLabel('Schedule (one per line: five-field cron, then the level)').fill('0 3 * * * full');
    await page.getByLabel('daily').fill('7');
    await checkPage(page, 'job-new');
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.getByRole('heading', { name: 'Job web-made' }).waitFor();
    const job = await k.c.json<{ paths: string[]; schedule: unknown; retention: unknown }>(['job', 'show', 'web-made']);
    assert.deepEqual(job.paths, [k.data]);
    assert.deepEqual(job.schedule, [{ cron: '0 3 * * *', level: 'full' }]);
    assert.deepEqual(job.retention, { daily: 7 });
    await checkPage(page, 'job');
    // edit: a second path, a bandwidth limit, paused
    await page.getByLabel('Paths (one per line)').fill(`${k.data}\n${k.data}/docs`);
    await page.getByLabel('Bandwidth limit (bytes per second, empty for none)').fill('1048576');
    await page.getByLabel('Paused (the schedule does not fire)').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Job web-made saved.').waitFor();
    const edited = await k.c.json<{ paths: string[]; bwlimit: number | null; paused: boolean; nextRun: string | null }>(['job', 'show', 'web-made']);
    assert.deepEqual([edited.paths, edited.bwlimit, edited.paused, edited.nextRun], [[k.data, `${k.data}/docs`], 1048576, true, null]);
    await page.getByLabel('Paths (one per line)').fill(k.data);
    await page.getByLabel('Bandwidth limit (bytes per second, empty for none)').fill('');
    await page.getByLabel('Paused (the schedule does not fire)').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    // the same message as the first save: wait for what it says instead
    for (let i = 0; ; i++) {
      const back = await k.c.json<{ paths: string[]; bwlimit: number | null; paused: boolean }>(['job', 'show', 'web-made']);
      if (!back.paused || i === 50) {
        assert.deepEqual([back.paths, back.bwlimit, back.paused], [[k.data], null, false]);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.locator('select[name="level"]').selectOption('full');
    await page.getByRole('button', { name: 'Estimate' }).click();
    await page.getByText(new RegExp(`^A full run would read ${22 + MANY} files, 1\\.4 MiB\\.$`)).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
    const label = page.locator('.progress-label');
    await label.filter({ hasText: 'done' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('progress').getAttribute('value'), '100');
    await page.locator('.log li').first().waitFor();
    await checkPage(page, 'run');
    await page.getByRole('link', { name: '← Runs' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.locator('td', { hasText: 'web-made' }).first().waitFor();
    await page.getByLabel('Job', { exact: true }).fill('seed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/runs\?job=seed$/);
    await page.locator('tbody td', { hasText: 'seed' }).first().waitFor();
    await page.locator('tbody td', { hasText: 'web-made' }).first().waitFor({ state: 'detached' }); // the filter keeps only seed's runs
    await checkPage(page, 'runs');
  });

  it('shows a running run on the dashboard with its live progress bar, and cancels it from its page', async () => {
    const { k, con } = t;
    const { page } = con;
    const slow = tempDir('cairn-e2e-slow-');
    for (let i = 0; i < 4; i++) writeFileSync(join(slow, `random-${i}.bin`), randomBytes(2 * 1024 * 1024));
    const made = await k.c.cli(['job', 'create', 'slow', '--agent', 'a1', '--storage', 's1', '--vault', k.vault, '--path', slow, '--bwlimit', '512K']);
    assert.equal(made.code, 0, made.stderr);
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByText('No run is running.').waitFor();
    const run = await k.c.json<{ id: number }>(['job', 'run', 'slow']);
    // the dashboard learns of the run and its progress from the event stream, without a reload
    const bar = page.locator(`.runs-live .progress[data-run="${run.id}"]`);
    await bar.locator('.progress-label', { hasText: /^\d+%/ }).waitFor({ timeout: 30_000 });
    // (polled from here: the console's CSP refuses a string evaluated in the page)
    for (let i = 0; Number(await bar.locator('progress').getAttribute('value')) === 0; i++) {
      assert.ok(i < 300, 'the progress bar never moved');
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.getByRole('link', { name: `Run ${run.id} slow` }).click();
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.locator('.badge', { hasText: 'canceled' }).waitFor({ timeout: 30_000 });
    assert.equal((await k.c.json<{ status: string }>(['run', 'show', String(run.id)])).status, 'canceled');
  });

  it('browses a snapshot holding a hostile file name: shown as text, no dialog, no console error', async () => {
    const { k, con } = t;
    const { page } = con;
    await page.getByRole('link', { name: 'Snapshots' }).click();
    await page.getByRole('heading', { name: 'Snapshots' }).waitFor();
    await checkPage(page, 'snapshots');
    await page.goto(`/snapshots/${k.snapshot}?path=${encodeURIComponent(k.data)}`);
    const row = page.locator('tr[data-entry]', { hasText: HOSTILE_NAME });
    await row.waitFor();
    assert.equal(await page.locator('img').count(), 0, 'the name became an element');
    await page.getByRole('link', { name: 'many' }).click();
    await page.locator('tr[data-entry="n-0499"]').waitFor();
    assert.equal(await page.locator('tr[data-entry]').count(), 500, 'one page of 500');
    await page.getByRole('button', { name: 'Show the next 500 entries' }).click();
    await page.locator(`tr[data-entry="n-${String(MANY - 1).padStart(4, '0')}"]`).waitFor();
    assert.equal(await page.locator('tr[data-entry]').count(), MANY);
    assert.equal(await page.getByRole('button', { name: /Show the next/ }).count(), 0, 'the last page says so');
    await page.getByRole('link', { name: '..' }).click();
    await page.getByRole('link', { name: 'docs' }).click();
    await page.locator('tr[data-entry="report.txt"]').waitFor();
    await checkPage(page, 'snapshot');
    assert.deepEqual(con.dialogs, []);
    assert.deepEqual(con.errors, []);
  });

  it('restores one picked file through the wizard: the dry run report first, then the restore, found on disk', async () => {
    const { k, con } = t;
    const { page } = con;
    const target = tempDir('cairn-e2e-restore-');
    await page.getByLabel('Pick report.txt').check();
    await page.getByText('1 picked:').waitFor();
    await page.getByLabel('Into folder (the snapshot\'s paths are recreated below it)').fill(target);
    await page.getByRole('button', { name: 'Check (dry run)' }).click();
    const report = page.getByRole('region', { name: 'Pretreatment report' });
    await report.getByText('Check passed').waitFor({ timeout: 30_000 });
    await report.getByText(`Would restore 1 file, 195.3 KiB`).waitFor();
    assert.equal(await page.locator('[aria-live="polite"]').getByRole('region', { name: 'Pretreatment report' }).count(), 1, 'the report is announced (inside a live region)');
    assert.deepEqual(readdirSync(target), [], 'the dry run wrote nothing');
    await checkPage(page, 'restore');
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
    await page.locator('.progress-label').filter({ hasText: 'done' }).waitFor({ timeout: 30_000 });
    assert.equal(readFileSync(join(target, k.data, 'docs', 'report.txt'), 'utf8'), readFileSync(join(k.data, 'docs', 'report.txt'), 'utf8'));
  });

  it("refuses a cookie-authenticated POST from the page without the CSRF token (403) and keeps the session", async () => {
    const { k, con } = t;
    const { page } = con;
    const answer = await page.evaluate<{ status: number; body: string }>(
      "fetch('/api/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'api' }) }).then(async (r) => ({ status: r.status, body: await r.text() }))",
    );
    assert.equal(answer.status, 403, answer.body);
    assert.match(answer.body, /X-CSRF-Token/);
    const tokens = await k.c.json<unknown[]>(['token', 'list']);
    assert.equal(tokens.length, 0, 'no API token was made');
  });

  it('returns to the login page once the session is over, and logs out', async () => {
    const { k, con } = t;
    const { page, context } = con;
    const url = new URL(k.c.url);
    await context.addCookies([{ name: 'cairn_session', value: 'ended-session', domain: url.hostname, path: '/api', secure: true, httpOnly: true, sameSite: 'Strict' }]);
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByText('Your session ended; log in again.').waitFor();
    await checkPage(page, 'login');
    await logIn(page, 'admin', k.c.adminPassword);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });
});

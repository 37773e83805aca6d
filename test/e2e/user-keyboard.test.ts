// The web console in Debian's Chromium as a `user` (issue 14), done with the keyboard only: log in
// by typing and Enter, move through the navigation with Tab and open pages with Enter. A user sees
// only its own agent (and the storage servers' status), no other user's jobs, and no button for
// what its role may not do (enrolling a storage server), which the API refuses anyway. An auditor
// gets no button that changes anything.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCairn } from '../support/cli.ts';
import { checkPage, type Console, type ConsoleCluster, DESKTOP, logIn, openConsole, PASSPHRASE, startConsoleCluster, tabTo, USER } from './harness.ts';

describe('the web console as a user, with the keyboard only', { concurrency: 1 }, () => {
  let k: ConsoleCluster;
  let con: Console;
  before(async () => {
    k = await startConsoleCluster();
    con = await openConsole(k.c.url);
  });
  after(async () => {
    await con?.close();
    await k?.stop();
  });

  it('logs in by typing, then reaches the agents page with Tab and Enter: only its own agent is listed', async () => {
    const { page } = con;
    await page.goto('/');
    await page.getByLabel('User').waitFor();
    // the user field has the focus on arrival
    await page.keyboard.type(USER.name);
    await page.keyboard.press('Tab');
    await page.keyboard.type(USER.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.locator('tr[data-part="agent:u1"]').waitFor();
    assert.equal(await page.locator('tr[data-part="agent:a1"]').count(), 0, "the admin's agent is not shown to a user");
    assert.equal(await page.locator('tr[data-part="storage:s1"]').count(), 1, "storage servers' status is");
    await tabTo(page, 'Agents');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Agents' }).waitFor();
    await page.locator('tr[data-name="u1"]').waitFor();
    assert.deepEqual(await page.locator('tr[data-name]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))), ['u1']);
    await tabTo(page, 'u1');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Agent u1' }).waitFor();
    await page.locator('dd', { hasText: USER.name }).waitFor(); // the owner
    await checkPage(page, 'agent-as-user');
  });

  it("shows no other user's jobs and no storage enrollment, which the API refuses anyway", async () => {
    const { page } = con;
    await tabTo(page, 'Jobs');
    await page.keyboard.press('Enter');
    await page.getByText('No job yet.').waitFor();
    assert.equal(await page.locator('tr[data-job="seed"]').count(), 0);
    await tabTo(page, 'Storage servers');
    await page.keyboard.press('Enter');
    await page.locator('tr[data-name="s1"]').waitFor();
    assert.equal(await page.getByRole('button', { name: /Enroll/ }).count(), 0, 'a user may not enroll storage servers');
    await checkPage(page, 'storages-as-user');
    const csrf = await page.evaluate<string>("fetch('/api/me').then((r) => r.json()).then((me) => me.csrf)");
    const refused = await page.evaluate<number>(
      `fetch('/api/tokens', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': ${JSON.stringify(csrf)} }, body: JSON.stringify({ kind: 'storage' }) }).then((r) => r.status)`,
    );
    assert.equal(refused, 403);
    assert.deepEqual(con.dialogs, []);
    assert.deepEqual(con.errors.filter((e) => !e.includes('status of 403')), []);
  });

  it('runs its own job now with the keyboard and follows the run to done', async () => {
    const { page } = con;
    const made = await runCairn(['job', 'create', 'mine', '--agent', 'u1', '--storage', 's1', '--path', k.data], { ...k.userConfig, ...PASSPHRASE });
    assert.equal(made.code, 0, made.stderr);
    await tabTo(page, 'Dashboard');
    await page.keyboard.press('Enter');
    await tabTo(page, 'Jobs');
    await page.keyboard.press('Enter');
    await page.locator('tr[data-job="mine"]').waitFor();
    await tabTo(page, 'mine');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Job mine' }).waitFor();
    await tabTo(page, 'Run now');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
    await page.locator('.progress-label').filter({ hasText: 'done' }).waitFor({ timeout: 30_000 });
    const [run] = await runCairn(['run', 'list', '--json'], k.userConfig).then((r) => JSON.parse(r.stdout) as { job: string; status: string }[]);
    assert.deepEqual([run?.job, run?.status], ['mine', 'succeeded']);
  });

  it('shows an auditor no button to change anything: no new job, no run now, a read-only job form, no restore', async () => {
    const added = await k.c.cli(['user', 'add', 'audrey', '--role', 'auditor', '--password-stdin'], 'audrey-password-for-tests\n');
    assert.equal(added.code, 0, added.stderr);
    const context = await con.browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP, baseURL: k.c.url });
    const page = await context.newPage();
    await logIn(page, 'audrey', 'audrey-password-for-tests');
    await page.goto('/jobs');
    await page.locator('tr[data-job="seed"]').waitFor();
    assert.equal(await page.getByRole('link', { name: 'New job' }).count(), 0);
    await page.getByRole('link', { name: 'seed' }).click();
    await page.getByLabel('Paths (one per line)').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Run now' }).count(), 0);
    assert.equal(await page.getByLabel('Paths (one per line)').isDisabled(), true);
    await page.goto(`/snapshots/${k.snapshot}`);
    await page.locator('tr[data-entry]').first().waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Restore' }).count(), 0);
    await page.goto('/agents');
    await page.locator('tr[data-name="a1"]').waitFor();
    assert.equal(await page.getByRole('button', { name: /Enroll/ }).count(), 0);
    await context.close();
  });
});

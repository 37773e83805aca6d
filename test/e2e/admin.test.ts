// The web console's Admin pages in Debian's Chromium against a real server (issue 14): an admin
// adds a user, changes its role (the last admin's demotion refused with the API's sentence),
// removes one after being asked again, creates an API token with a lifetime (shown once, with the
// login command) and revokes it (the API refuses it from then on), filters the audit log to that
// user's entries and pages through it (a hostile name tried at login shown as text), adds and
// removes a webhook (its secret shown once, never listed); an auditor sees users, the audit log
// and alerts with no button that changes anything; a `user` has no Admin navigation, makes and
// revokes its own API token with the keyboard only, and gets the API's refusal typing an Admin
// address. Each page checked by axe-core at both widths and for sideways scrolling.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Cluster, startCluster, tempDir } from '../support/cluster.ts';
import { runCairn } from '../support/cli.ts';
import { type RawApi, rawApi } from '../support/raw-api.ts';
import { checkPage, type Console, DESKTOP, logIn, openConsole } from './harness.ts';
import { tabTo } from './keyboard.ts';

const PASSWORD = 'admin-pages-password';
const HOSTILE = '<img src=x onerror=alert(1)>';

describe('the web console: Admin pages', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let con: Console;
  const users = async () => Object.fromEntries((await c.json<{ name: string; role: string }[]>(['user', 'list'])).map((u) => [u.name, u.role]));
  before(async () => {
    c = await startCluster({ env: { CAIRN_TEST: '1' } });
    api = rawApi(c);
    for (const [name, role] of [['audra', 'auditor'], ['ulla', 'user'], ['temp', 'user']]) {
      const r = await c.cli(['user', 'add', name!, '--role', role!, '--password-stdin'], `${PASSWORD}\n`);
      assert.equal(r.code, 0, r.stderr);
    }
    con = await openConsole(c.url);
    await con.context.grantPermissions(['clipboard-read', 'clipboard-write']);
  });
  after(async () => {
    await con?.close();
    await c?.stop();
  });

  it('an admin adds a user, changes its role and removes another after being asked; what the API refuses is shown as its sentence', async () => {
    const { page } = con;
    await logIn(page, 'admin', c.adminPassword);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'Users and roles' }).waitFor();
    await page.locator('tr[data-user="audra"]').waitFor();
    const form = page.getByRole('form', { name: 'Add a user' });
    await form.getByLabel('Name').fill('nadia');
    await form.getByLabel('Role').selectOption('user');
    await form.getByLabel('Password (at least 8 characters)').fill('short');
    await form.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('alert').filter({ hasText: 'password: must have at least 8 characters' }).waitFor();
    assert.equal((await users()).nadia, undefined, 'nothing was added');
    await form.getByLabel('Password (at least 8 characters)').fill(PASSWORD);
    await form.getByRole('button', { name: 'Add user' }).click();
    await page.getByText('User nadia added (user).').waitFor();
    assert.equal(await form.getByLabel('Password (at least 8 characters)').inputValue(), '', 'the password is not kept in the page');
    await page.getByLabel('Role of nadia', { exact: true }).selectOption('operator');
    await page.getByRole('button', { name: 'Change role of nadia' }).click();
    await page.getByText('nadia is now operator.').waitFor();
    assert.equal((await users()).nadia, 'operator');
    // the last admin stays one: the API's sentence, nothing changed
    await page.getByLabel('Role of admin', { exact: true }).selectOption('auditor');
    await page.getByRole('button', { name: 'Change role of admin' }).click();
    await page.getByRole('alert').filter({ hasText: 'user admin is the last admin; make another admin first' }).waitFor();
    assert.equal((await users()).admin, 'admin');
    await page.getByLabel('Role of admin', { exact: true }).selectOption('admin');
    await checkPage(page, 'admin-users');
    await page.getByRole('button', { name: 'Remove temp' }).click();
    await page.getByText('Remove temp? Their sessions and API tokens end at once.').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await users()).temp, 'user', 'a cancel removes nothing');
    await page.getByRole('button', { name: 'Remove temp' }).click();
    await page.getByRole('button', { name: 'Remove user temp' }).click();
    await page.getByText('User temp removed.').waitFor();
    await page.locator('tr[data-user="temp"]').waitFor({ state: 'detached' });
    assert.equal((await users()).temp, undefined);
  });

  it('an admin creates an API token with a lifetime, shown once with the login command, and revokes it: the API refuses it from then on', async () => {
    const { page } = con;
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    const form = page.getByRole('form', { name: 'Create an API token' });
    await form.getByLabel('Name (default api)').fill('script');
    await form.getByLabel(/^Lifetime/).fill('2 weeks');
    await form.getByRole('button', { name: 'Create API token' }).click();
    await form.getByRole('alert').filter({ hasText: 'Lifetime: 2 weeks is not a duration like 30s, 15m, 6h or 90d.' }).waitFor();
    await form.getByLabel(/^Lifetime/).fill('400d');
    await form.getByRole('button', { name: 'Create API token' }).click();
    await form.getByRole('alert').filter({ hasText: 'ttlSeconds: must be at most' }).waitFor(); // the API's sentence
    assert.deepEqual(await c.json<unknown[]>(['token', 'list']), [], 'no token was made');
    await form.getByLabel(/^Lifetime/).fill('2h');
    await form.getByRole('button', { name: 'Create API token' }).click();
    const token = (await page.locator('.shown-once code').textContent()) ?? '';
    assert.match(token, /^cairnapi_/);
    assert.equal(await page.locator('.command code').filter({ hasText: '--api-token-stdin' }).textContent(), `cairn login ${c.url} --api-token-stdin --ca ca.pem`);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied.').waitFor();
    assert.equal(await page.evaluate<string>('navigator.clipboard.readText()'), token);
    assert.equal((await api.call('/api/me', { token })).status, 200, 'the new token works');
    const [listed] = await c.json<{ id: number; name: string; createdAt: string; expiresAt: string }[]>(['token', 'list']);
    assert.equal(listed?.name, 'script');
    assert.equal(Date.parse(listed.expiresAt) - Date.parse(listed.createdAt), 2 * 3600 * 1000);
    const row = page.locator(`tr[data-token="${listed.id}"]`);
    await row.waitFor();
    assert.doesNotMatch((await page.locator('table').textContent()) ?? '', /cairnapi_/, 'the list never shows a token');
    await checkPage(page, 'admin-tokens');
    await row.getByRole('button', { name: `Revoke token script (${listed.id})` }).click();
    await page.getByRole('button', { name: `Revoke token ${listed.id}` }).click();
    await page.getByText(`API token script (${listed.id}) revoked.`).waitFor();
    await row.waitFor({ state: 'detached' });
    assert.equal((await api.call('/api/me', { token })).status, 401, 'the revoked token is refused');
  });

  it("filters the audit log to one user's entries and pages through them; a hostile name tried at login is shown as text", async () => {
    const { page } = con;
    // nadia's own entries: a login, and requests her role is refused
    const nadia = { CAIRN_CONFIG: join(tempDir('cairn-e2e-nadia-'), 'cli.json') };
    const login = await runCairn(['login', c.url, '--user', 'nadia', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], nadia, `${PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    const nadiaToken = ((await api.call('/api/login', { token: null, body: { user: 'nadia', password: PASSWORD } })).json as { token: string }).token;
    for (let i = 0; i < 60; i++) assert.equal((await api.call('/api/users', { token: nadiaToken })).status, 403);
    const hostile = await api.call('/api/login', { token: null, body: { user: HOSTILE, password: 'wrong-password' } });
    assert.equal(hostile.status, 401);
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByLabel('User (or scheduler)').fill('nadia');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/admin\/audit\?user=nadia$/);
    await page.getByText('Entries 1–50 of 62, newest first.').waitFor();
    assert.deepEqual([...new Set(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-who'))))], ['nadia']);
    const first = page.locator('tbody tr').first();
    assert.equal(await first.locator('td').nth(2).textContent(), 'GET /api/users');
    assert.equal(await first.locator('td').last().textContent(), 'E_FORBIDDEN');
    assert.match((await first.locator('td').nth(4).textContent()) ?? '', /127\.0\.0\.1/);
    // times in the browser's zone, UTC on hover
    const time = first.locator('time');
    assert.match((await time.getAttribute('title')) ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    assert.equal(await time.textContent(), await page.evaluate<string>(`new Date(${JSON.stringify(await time.getAttribute('datetime'))}).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })`));
    await page.getByRole('button', { name: 'Older entries' }).click();
    await page.getByText('Entries 51–62 of 62, newest first.').waitFor();
    await page.locator('tbody tr td', { hasText: 'POST /api/login' }).first().waitFor(); // her logins are the oldest
    await checkPage(page, 'admin-audit');
    // a limit, and a time in the browser's zone sent as UTC
    await page.getByLabel('At most').fill('5');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('Entries 1–5 of 5, newest first (the limit: older ones are left out).').waitFor();
    await page.getByLabel('Since (your time zone)').fill('2099-01-01T05:30');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((u) => u.searchParams.get('since') === '2099-01-01T00:00:00.000Z');
    await page.getByText('No entry matches.').waitFor();
    await page.goto('/admin/audit?user=anonymous');
    const tried = page.locator('tbody td', { hasText: HOSTILE });
    await tried.first().waitFor();
    assert.equal(await page.locator('main img').count(), 0, 'the name became an element');
    assert.deepEqual(con.dialogs, []);
  });

  it('an admin adds a webhook (its secret shown once, never listed again) and removes it; a bad URL gets the API\'s sentence', async () => {
    const { page } = con;
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByText('Every part is online and no run failed lately.').waitFor();
    const form = page.getByRole('form', { name: 'Add a webhook' });
    await form.getByLabel('URL (http or https)').fill('ftp://127.0.0.1/hook');
    await form.getByRole('button', { name: 'Add webhook' }).click();
    await form.getByRole('alert').filter({ hasText: 'url: must be http or https, not ftp' }).waitFor();
    assert.deepEqual(await c.json<unknown[]>(['alert', 'list']), []);
    await form.getByLabel('URL (http or https)').fill('https://127.0.0.1:9/hook');
    await form.getByLabel('run.succeeded').check();
    await form.getByRole('button', { name: 'Add webhook' }).click();
    const secret = (await page.locator('.shown-once code').textContent()) ?? '';
    assert.match(secret, /^[0-9a-f]{64}$/);
    const [hook] = await c.json<{ id: number; url: string; events: string[] }[]>(['alert', 'list']);
    assert.deepEqual([hook?.url, hook?.events], ['https://127.0.0.1:9/hook', ['run.failed', 'part.offline', 'run.succeeded']]);
    await page.locator(`tr[data-hook="${hook!.id}"]`).waitFor();
    await checkPage(page, 'admin-alerts');
    await page.reload();
    await page.locator(`tr[data-hook="${hook!.id}"]`).waitFor();
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', new RegExp(secret), 'the secret is gone once the page is left');
    await page.getByRole('button', { name: `Remove webhook ${hook!.id}` }).click();
    await page.getByRole('group', { name: `Remove webhook ${hook!.id}?` }).getByRole('button', { name: `Remove webhook ${hook!.id}` }).click();
    await page.getByText('No webhook yet.').waitFor();
    assert.deepEqual(await c.json<unknown[]>(['alert', 'list']), []);
    assert.deepEqual(con.dialogs, []);
  });

  it('an auditor reads users, the audit log and alerts, with no button that changes anything', async () => {
    const context = await con.browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP, baseURL: c.url, timezoneId: 'Asia/Kolkata' });
    const page = await context.newPage();
    await logIn(page, 'audra', PASSWORD);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.locator('tr[data-user="nadia"]').waitFor();
    assert.equal(await page.locator('main button').count(), 0, 'no add, role change or remove');
    assert.equal(await page.locator('main select, main input').count(), 0);
    await checkPage(page, 'admin-users-as-auditor');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('tbody tr').first().waitFor();
    assert.deepEqual(await page.locator('main button').allTextContents(), ['Filter', 'Newer entries', 'Older entries']);
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByText('Webhooks are shown to admins only: their addresses are often credentials themselves.').waitFor();
    assert.equal(await page.locator('main button').count(), 0);
    await checkPage(page, 'admin-alerts-as-auditor');
    await context.close();
  });

  it('a user has no Admin navigation, makes and revokes its own API token with the keyboard only, and gets the API\'s refusal at an Admin address', async () => {
    const context = await con.browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP, baseURL: c.url });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto('/');
    await page.getByLabel('User').waitFor();
    await page.keyboard.type('ulla');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Admin' }).count(), 0, 'no Admin navigation');
    await tabTo(page, 'API tokens');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Admin' }).count(), 0);
    await tabTo(page, 'Create API token'); // past the name and lifetime fields: back to them
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.type('1d');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.type('mine');
    await page.keyboard.press('Enter');
    const token = (await page.locator('.shown-once code').textContent()) ?? '';
    assert.match(token, /^cairnapi_/);
    const [mine] = (await api.call('/api/tokens', { token })).json as { id: number; name: string; user: string }[];
    assert.deepEqual([mine?.name, mine?.user], ['mine', 'ulla']);
    await checkPage(page, 'tokens-as-user');
    await tabTo(page, `Revoke token mine (${mine!.id})`, { back: true }); // the list is above the form
    await page.keyboard.press('Enter');
    // the confirming button has the focus
    await page.keyboard.press('Enter');
    await page.getByText(`API token mine (${mine!.id}) revoked.`).waitFor();
    assert.equal((await api.call('/api/me', { token })).status, 401);
    await page.goto('/admin/audit');
    await page.getByRole('alert').filter({ hasText: 'role user may not GET /api/audit' }).waitFor();
    await page.goto('/admin');
    await page.getByRole('alert').filter({ hasText: 'role user may not GET /api/users' }).waitFor();
    assert.deepEqual(errors.filter((e) => !e.includes('status of 403')), []);
    await context.close();
  });
});

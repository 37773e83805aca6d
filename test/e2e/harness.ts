// The web console's end-to-end harness: a real cluster (server, one storage server, an admin's
// agent a1 and a `user`'s agent u1, a seed job whose vault a1 holds the keys of, a data folder
// with a hostile file name) and Debian's Chromium driven by playwright-core (never a downloaded
// browser). Pages are checked by axe-core for serious or critical violations and for sideways
// scrolling at a desktop and a phone width. The screenshots script uses the same harness.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { RunJson } from '../../src/protocol/api-types.ts';
import { type Cluster, type Daemon, startCluster, startDaemon, tempDir } from '../support/cluster.ts';
import { runCairn } from '../support/cli.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** Files in the data's `many` folder: more than one page (500) of the file browser. */
export const MANY = 620;
export const HOSTILE_NAME = '<img src=x onerror=alert(1)>.txt';
export const PASSPHRASE = { CAIRN_PASSPHRASE: 'web console passphrase for tests' };
export const USER = { name: 'ursula', password: 'ursula-password-for-tests' };
const TEST_ENV = { CAIRN_TEST: '1', CAIRN_TEST_NET_BUCKET_MS: '500' };
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export type ConsoleCluster = {
  c: Cluster;
  /** the folder the jobs back up (holds HOSTILE_NAME) */
  data: string;
  vault: string;
  /** the snapshot of the seed job's first run */
  snapshot: string;
  userAgent: Daemon;
  /** the environment of the `user`'s own CLI login */
  userConfig: { CAIRN_CONFIG: string };
  stop: () => Promise<void>;
};

export async function startConsoleCluster(): Promise<ConsoleCluster> {
  // network samples every 500 ms instead of every minute, so an agent's RTT chart has points to draw
  const c = await startCluster({ storages: ['s1'], agents: ['a1'], env: TEST_ENV });
  const data = tempDir('cairn-e2e-data-');
  mkdirSync(join(data, 'docs'));
  writeFileSync(join(data, HOSTILE_NAME), 'hostile name\n');
  writeFileSync(join(data, 'docs', 'report.txt'), 'x'.repeat(200_000));
  for (let i = 0; i < 20; i++) writeFileSync(join(data, `file-${i}.bin`), Buffer.alloc(64 * 1024, i));
  // more entries than one page of the file browser
  mkdirSync(join(data, 'many'));
  for (let i = 0; i < MANY; i++) writeFileSync(join(data, 'many', `n-${String(i).padStart(4, '0')}`), '');
  const seed = await c.cli(['job', 'create', 'seed', '--agent', 'a1', '--storage', 's1', '--path', data], undefined, PASSPHRASE);
  assert.equal(seed.code, 0, seed.stderr);
  const vault = (await c.json<{ name: string }[]>(['vault', 'list']))[0]!.name;
  const run = await c.json<RunJson>(['job', 'run', 'seed', '--wait']);
  assert.equal(run.status, 'succeeded', JSON.stringify(run));
  // a `user` with an agent of its own
  const added = await c.cli(['user', 'add', USER.name, '--role', 'user', '--password-stdin'], `${USER.password}\n`);
  assert.equal(added.code, 0, added.stderr);
  const userConfig = { CAIRN_CONFIG: join(tempDir('cairn-e2e-user-'), 'cli.json') };
  const login = await runCairn(['login', c.url, '--user', USER.name, '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], userConfig, `${USER.password}\n`);
  assert.equal(login.code, 0, login.stderr);
  const token = await runCairn(['token', 'create', '--kind', 'agent', '--json'], userConfig);
  assert.equal(token.code, 0, token.stderr);
  const dataDir = join(tempDir('cairn-e2e-u1-'), 'agent');
  const userAgent = await startDaemon('agent u1', dataDir, ['agent', 'start', '--data', dataDir, '--server', c.url, '--token', (JSON.parse(token.stdout) as { token: string }).token, '--name', 'u1'], TEST_ENV);
  await c.waitOnline('agent', 'u1');
  return {
    c,
    data,
    vault,
    snapshot: run.snapshot!,
    userAgent,
    userConfig,
    stop: async () => {
      await userAgent.stop();
      await c.stop();
    },
  };
}

export type Console = {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** console errors and failed page loads seen so far */
  errors: string[];
  /** dialogs (alert, confirm) that opened; any is a failure */
  dialogs: string[];
  close: () => Promise<void>;
};

export async function openConsole(url: string): Promise<Console> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  // the server's certificate chains to the cluster's own CA, which this browser profile does not trust
  // a zone other than the machine's UTC, so local times differ from the UTC ones on hover
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP, baseURL: url, timezoneId: 'Asia/Kolkata', locale: 'en-GB' });
  const page = await context.newPage();
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  return { browser, context, page, errors, dialogs, close: () => browser.close() };
}

export async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** A suite's cluster and browser, started before its tests and stopped after (the fields are set in `before`). */
export function consoleSuite(): { k: ConsoleCluster; con: Console } {
  const suite = {} as { k: ConsoleCluster; con: Console };
  before(async () => {
    suite.k = await startConsoleCluster();
    suite.con = await openConsole(suite.k.c.url);
  });
  after(async () => {
    await suite.con?.close();
    await suite.k?.stop();
  });
  return suite;
}

/**
 * Presses Tab until the focused element is the one named `name` (at most 40 times): a link or button
 * by its text, a field by the first text of its <label>.
 */
export async function tabTo(page: Page, name: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate<string>("((e) => (e?.labels?.[0]?.firstChild?.textContent ?? e?.textContent ?? ''))(document.activeElement).trim()");
    if (focused === name) return;
  }
  assert.fail(`Tab never reached ${name}`);
}

/** axe-core finds no serious or critical violation on the page as shown. */
export async function checkAccessible(page: Page, label: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`),
    [],
    `${label}: accessibility violations`,
  );
}

/** The page scrolls no wider than the window, at a desktop and at a phone width. */
export async function checkNoSidewaysScroll(page: Page, label: string): Promise<void> {
  for (const size of [DESKTOP, PHONE]) {
    await page.setViewportSize(size);
    // run in the page (the test's tsconfig has no DOM types)
    const { scroll, client } = await page.evaluate<{ scroll: number; client: number }>('({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })');
    assert.ok(scroll <= client, `${label} at ${size.width}×${size.height}: ${scroll} px wide in a ${client} px window`);
  }
  await page.setViewportSize(DESKTOP);
}

/** Both checks (axe at the phone width too), and a screenshot into CAIRN_SCREENSHOTS (a folder) when set. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await checkAccessible(page, name);
  await checkNoSidewaysScroll(page, name);
  await page.setViewportSize(PHONE);
  await checkAccessible(page, `${name} at ${PHONE.width} px`);
  await page.setViewportSize(DESKTOP);
  const dir = process.env.CAIRN_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

// Every flow of the web console's "Must show" done once with the keyboard alone (issue 14), as an
// admin in Debian's Chromium against a real cluster: log in; the parts online (agents and storage
// servers, a detail page of each); a job created in the form; run now, its progress bar followed
// to done; the snapshot browsed into a folder and back; one file picked with Space and restored
// through the wizard (the pretreatment report first), then found on disk. Only Tab, Shift+Tab,
// arrows, Space, Enter and typing: no clicks, no focus() calls. Each new page takes the focus to
// its heading, and the focus stays visible.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { RunJson } from '../../src/protocol/api-types.ts';
import { tempDir } from '../support/cluster.ts';
import { checkAccessible, consoleForTests, HOSTILE_NAME } from './harness.ts';
import { activate, assertFocusVisible, focusedName, tabTo, typeInto } from './keyboard.ts';

/** The page's heading shows and holds the focus (moved there on the route change). */
async function arrived(page: Page, heading: string | RegExp): Promise<string> {
  const h1 = page.getByRole('heading', { level: 1, name: heading });
  await h1.waitFor();
  const text = ((await h1.textContent()) ?? '').trim();
  for (let i = 0; (await focusedName(page)) !== text; i++) {
    assert.ok(i < 50, `the focus is on ${JSON.stringify(await focusedName(page))}, not on the heading ${text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return text;
}

/** A page of the main navigation: Shift+Tab from the page's heading reaches it before anything else. */
async function openNav(page: Page, label: string, heading: string | RegExp = label): Promise<void> {
  await activate(page, label, 'Enter', { back: true });
  await arrived(page, heading);
}

/** Arrow keys on the select labelled `label` (its name attribute `field`) until it shows `value`. */
async function choose(page: Page, label: string, field: string, value: string): Promise<void> {
  const select = page.locator(`select[name="${field}"]`);
  await select.locator(`option[value="${value}"]`).waitFor({ state: 'attached' });
  await tabTo(page, label);
  for (let i = 0; (await select.inputValue()) !== value; i++) {
    assert.ok(i < 20, `the arrow keys never chose ${value} in ${label}`);
    await page.keyboard.press('ArrowDown');
  }
}

describe('the web console with the keyboard only', { concurrency: 1 }, () => {
  const t = consoleForTests();
  let runId = 0;

  it('logs in by typing and Enter, and lands on the dashboard heading with every part online', async () => {
    const { k, con } = t;
    const { page } = con;
    await page.goto('/');
    await page.getByLabel('User').waitFor();
    assert.equal(await focusedName(page), 'User', 'the user field has the focus on arrival');
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(k.c.adminPassword);
    await page.keyboard.press('Enter');
    await arrived(page, 'Dashboard');
    for (const part of ['agent:a1', 'agent:u1', 'storage:s1']) {
      await page.locator(`tr[data-part="${part}"] .badge`).filter({ hasText: 'online' }).waitFor();
    }
    await checkAccessible(page, 'dashboard, heading focused');
  });

  it('lists agents and storage servers and opens one of each, the focus visible on every stop', async () => {
    const { con } = t;
    const { page } = con;
    await openNav(page, 'Agents');
    await page.locator('tr[data-name="a1"] .badge', { hasText: 'online' }).waitFor();
    await tabTo(page, 'a1');
    await assertFocusVisible(page, 'the link of agent a1');
    await page.keyboard.press('Enter');
    await arrived(page, 'Agent a1');
    assert.match((await page.locator('dd.fingerprint').textContent()) ?? '', /^[0-9a-f]{64}$/);
    await checkAccessible(page, 'agent, heading focused');
    await openNav(page, 'Storage servers');
    await assertFocusVisible(page, 'the heading of Storage servers');
    await page.locator('tr[data-name="s1"] .badge', { hasText: 'online' }).waitFor();
    await activate(page, 's1');
    await arrived(page, 'Storage server s1');
    await page.locator('dd', { hasText: /dedup ratio/ }).waitFor();
    // back to the list by its link, with Enter
    await activate(page, '← Storage servers', 'Enter', { back: true });
    await arrived(page, 'Storage servers');
  });

  it('creates a job in the form: typed fields, selects moved with the arrow keys, submitted with Enter', async () => {
    const { k, con } = t;
    const { page } = con;
    await openNav(page, 'Jobs');
    await page.locator('tr[data-job="seed"]').waitFor();
    await activate(page, 'New job');
    await arrived(page, 'New job');
    await typeInto(page, 'Name', 'keyed');
    await choose(page, 'Agent', 'agent', 'a1');
    await assertFocusVisible(page, 'the agent select');
    await choose(page, 'Storage server', 'storage', 's1');
    await choose(page, 'Vault', 'vault', k.vault);
    await typeInto(page, 'Paths (one per line)', k.data);
    await typeInto(page, 'Schedule (one per line: five-field cron, then the level)', '0 3 * * * full');
    await typeInto(page, 'daily', '7');
    await activate(page, 'Create job');
    await arrived(page, 'Job keyed');
    const job = await k.c.json<{ agent: string; storage: string; vault: string; paths: string[]; schedule: unknown; retention: unknown }>(['job', 'show', 'keyed']);
    assert.deepEqual(job, { ...job, agent: 'a1', storage: 's1', vault: k.vault, paths: [k.data], schedule: [{ cron: '0 3 * * *', level: 'full' }], retention: { daily: 7 } });
  });

  it('runs the job now at a level picked with the arrows and follows the progress bar to done', async () => {
    const { k, con } = t;
    const { page } = con;
    await choose(page, 'Level', 'level', 'full');
    await activate(page, 'Run now');
    const heading = await arrived(page, /^Run \d+$/);
    runId = Number(heading.split(' ')[1]);
    await page.locator('.progress-label').filter({ hasText: 'done' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('progress').getAttribute('value'), '100');
    const run = await k.c.json<RunJson>(['run', 'show', String(runId)]);
    assert.deepEqual([run.job, run.level, run.status], ['keyed', 'full', 'succeeded']);
    assert.ok(run.snapshot);
  });

  it("browses the run's snapshot from the root into the data folder, into a folder and back with '..'", async () => {
    const { k, con } = t;
    const { page } = con;
    const run = await k.c.json<RunJson>(['run', 'show', String(runId)]);
    await page.getByRole('link', { name: run.snapshot! }).waitFor();
    await activate(page, run.snapshot!);
    await arrived(page, `Snapshot ${run.snapshot!.slice(0, 12)}`);
    // down from the root one folder at a time, by each folder's link in the listing
    const segments = k.data.split('/').filter((s) => s !== '');
    for (const [i, segment] of segments.entries()) {
      await page.locator(`tr[data-entry="${segment}"]`).waitFor();
      // the crumbs come before the listing and name the folders above: skip past them
      if (i > 0) await tabTo(page, '..');
      await activate(page, segment);
      await arrived(page, /^Snapshot /);
    }
    await page.locator('tr[data-entry]', { hasText: HOSTILE_NAME }).waitFor();
    await tabTo(page, '..');
    await activate(page, 'many');
    await arrived(page, /^Snapshot /);
    await page.locator('tr[data-entry="n-0499"]').waitFor();
    // past the first page's 500 pick boxes to the button for the next page: the focus lands on the first new row
    await activate(page, 'Show the next 500 entries');
    await page.locator('tr[data-entry="n-0500"]').waitFor();
    for (let i = 0; (await focusedName(page)) !== 'Pick n-0500'; i++) {
      assert.ok(i < 50, `after the next page the focus is on ${JSON.stringify(await focusedName(page))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await activate(page, '..', 'Enter', { back: true });
    await arrived(page, /^Snapshot /);
    assert.equal(new URL(page.url()).searchParams.get('path'), k.data, "'..' went back to the data folder");
    await page.locator('tr[data-entry="docs"]').waitFor();
    await tabTo(page, '..');
    await activate(page, 'docs');
    await arrived(page, /^Snapshot /);
    await page.locator('tr[data-entry="report.txt"]').waitFor();
    await checkAccessible(page, 'file browser, heading focused');
    assert.deepEqual(con.dialogs, []);
  });

  it('picks one file with Space and restores it through the wizard: the report first, then the file on disk', async () => {
    const { k, con } = t;
    const { page } = con;
    const target = tempDir('cairn-e2e-keyed-restore-');
    await tabTo(page, 'Pick report.txt');
    await assertFocusVisible(page, 'the pick check box');
    await page.keyboard.press('Space');
    await page.getByText('1 picked:').waitFor();
    assert.equal(await page.getByLabel('Pick report.txt').isChecked(), true);
    await typeInto(page, "Into folder (the snapshot's paths are recreated below it)", target);
    await choose(page, 'When a file is in the way', 'conflict', 'skip');
    await activate(page, 'Check (dry run)');
    const report = page.getByRole('region', { name: 'Pretreatment report' });
    await report.getByText('Check passed').waitFor({ timeout: 30_000 });
    await report.getByText('Would restore 1 file, 195.3 KiB').waitFor();
    assert.deepEqual(readdirSync(target), [], 'the dry run wrote nothing');
    // the check button kept the focus while it ran: the next stop is Restore, enabled by the report
    await page.keyboard.press('Tab');
    assert.equal(await focusedName(page), 'Restore');
    await page.keyboard.press('Enter');
    await arrived(page, /^Run \d+$/);
    await page.locator('.progress-label').filter({ hasText: 'done' }).waitFor({ timeout: 30_000 });
    assert.equal(readFileSync(join(target, k.data, 'docs', 'report.txt'), 'utf8'), readFileSync(join(k.data, 'docs', 'report.txt'), 'utf8'));
    assert.deepEqual(con.dialogs, []);
    assert.deepEqual(con.errors, []);
  });
});

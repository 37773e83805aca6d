// The web console's operations in Debian's Chromium against a real cluster (issue 14): search a
// job's snapshots by name with the keyboard only and open the file's folder; verify a snapshot and
// see it pass; damage the packs of a second backup on the storage server's disk and see the verify
// name the damaged file; forget that snapshot from its page; a gc then shows the bytes it freed;
// retention applied from the snapshots page (dry run, then for real); the network monitor shows
// every part online with its charts and runs a net test. Refusals (a snapshot a running backup
// builds on, a glob with a /, retention without a policy) are shown as the API says them;
// an auditor gets none of these buttons. Every page checked by axe-core at both sizes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RunJson, SnapshotJson } from '../../src/protocol/api-types.ts';
import { tempDir } from '../support/cluster.ts';
import { damageDataBlobs, packFiles } from '../support/pack-damage.ts';
import { checkPage, consoleForTests, DESKTOP, logIn } from './harness.ts';
import { tabTo } from './keyboard.ts';

describe('the web console: verify, gc, network, search by name and forget', { concurrency: 1 }, () => {
  const suite = consoleForTests();

  it("searches a job's snapshots by name with the keyboard only and opens the file's folder", async () => {
    const { k, con } = suite;
    const { page } = con;
    await logIn(page, 'admin', k.c.adminPassword);
    await tabTo(page, 'Snapshots', { back: true }); // each page puts the focus on its heading, after the navigation
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Snapshots', exact: true }).waitFor();
    await tabTo(page, 'Job');
    // the jobs arrive after the page: an arrow pressed before would find only "every job"
    await page.locator('form[aria-label="Pick a job"] option', { hasText: 'seed' }).waitFor({ state: 'attached' });
    await page.keyboard.press('ArrowDown'); // "every job" → seed
    await page.getByRole('heading', { name: 'Snapshots of seed' }).waitFor();
    await tabTo(page, 'File name (a glob: * ? [abc])');
    await page.keyboard.type('rep*.t?t');
    await page.keyboard.press('Enter');
    const found = `${k.data}/docs/report.txt`;
    await page.getByRole('status').filter({ hasText: '1 match for rep*.t?t.' }).waitFor();
    await checkPage(page, 'snapshots-search');
    await tabTo(page, found);
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/snapshots/${k.snapshot}` && u.searchParams.get('path') === `${k.data}/docs`);
    await page.locator('tr[data-entry="report.txt"]').waitFor();
  });

  it("is reached from the job's page, says when nothing matched, and shows the API refusing a glob with a /", async () => {
    const { con } = suite;
    const { page } = con;
    await page.goto('/jobs/seed');
    await page.getByRole('link', { name: 'Find files by name in this job' }).click();
    await page.getByRole('heading', { name: 'Snapshots of seed' }).waitFor();
    const box = page.getByLabel('File name (a glob: * ? [abc])');
    await box.fill('no-such-*.zip');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText("No file named no-such-*.zip in seed's snapshots.").waitFor();
    await box.fill('docs/*.txt');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('alert').filter({ hasText: 'name is matched against base names and cannot hold a /: docs/*.txt' }).waitFor();
    assert.equal(await page.getByRole('region', { name: 'Search results' }).count(), 0);
  });

  it('verifies a snapshot at the data level and sees it succeed with no damaged file', async () => {
    const { k, con } = suite;
    const { page } = con;
    await page.goto(`/snapshots/${k.snapshot}`);
    await page.getByLabel('Verify level').selectOption('data');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
    await page.getByText('No damaged file found.').waitFor({ timeout: 30_000 });
    await page.locator('.badge', { hasText: 'succeeded' }).first().waitFor();
    const id = Number(/\/runs\/(\d+)$/.exec(page.url())?.[1]);
    const run = await k.c.json<RunJson>(['run', 'show', String(id)]);
    assert.deepEqual([run.kind, run.status, run.damagedTotal], ['verify', 'succeeded', 0]);
  });

  let victimSnapshot = '';
  it("damages a backup's packs on the storage server's disk and sees the verify name the damaged file", async () => {
    const { k, con } = suite;
    const { page } = con;
    const dir = tempDir('cairn-e2e-victim-');
    const victim = join(dir, 'victim.bin');
    writeFileSync(victim, randomBytes(3 * 1024 * 1024 + 1));
    const made = await k.c.cli(['job', 'create', 'victim', '--agent', 'a1', '--storage', 's1', '--vault', k.vault, '--path', dir]);
    assert.equal(made.code, 0, made.stderr);
    const storageDir = k.c.storages.get('s1')!.dataDir;
    const packsBefore = packFiles(storageDir, k.vault);
    const run = await k.c.json<RunJson>(['job', 'run', 'victim', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    victimSnapshot = run.snapshot!;
    const added = [...packFiles(storageDir, k.vault)].filter((p) => !packsBefore.has(p));
    assert.ok(added.reduce((n, p) => n + damageDataBlobs(p), 0) >= 1, 'the backup stored data blobs in new packs');
    await page.goto(`/snapshots/${victimSnapshot}`);
    await page.getByLabel('Verify level').selectOption('data');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
    const row = page.locator(`tr[data-damaged="${victim}"]`);
    await row.waitFor({ timeout: 30_000 });
    assert.match((await row.locator('td').nth(1).textContent()) ?? '', /^chunk [0-9a-f]{8} fails its check/);
    await page.getByText('1 damaged file:').waitFor();
    await page.locator('.badge', { hasText: 'failed' }).first().waitFor();
    await checkPage(page, 'verify-damaged');
  });

  it('forgets the damaged snapshot from its page after a confirmation, and it leaves the list', async () => {
    const { k, con } = suite;
    const { page } = con;
    await page.goto(`/snapshots/${victimSnapshot}`);
    await page.getByRole('button', { name: 'Forget this snapshot' }).click();
    // asked in the page, not by a browser dialog; "Keep it" changes nothing
    await page.getByRole('button', { name: 'Keep it' }).click();
    assert.equal((await k.c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'victim'])).length, 1);
    await page.getByRole('button', { name: 'Forget this snapshot' }).click();
    await checkPage(page, 'snapshot-forget');
    await page.getByRole('button', { name: 'Yes, forget it' }).click();
    await page.getByRole('heading', { name: 'Snapshots of victim' }).waitFor();
    await page.getByText('No snapshot yet.').waitFor();
    assert.equal(await page.getByRole('link', { name: victimSnapshot.slice(0, 12) }).count(), 0);
    assert.deepEqual(await k.c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'victim']), []);
    assert.deepEqual(con.dialogs, []);
  });

  it('shows the refusal to forget a snapshot a running backup builds on, and keeps it', async () => {
    const { k, con } = suite;
    const { page } = con;
    const slow = join(k.data, 'slow.bin');
    writeFileSync(slow, randomBytes(4 * 1024 * 1024));
    assert.equal((await k.c.cli(['job', 'edit', 'seed', '--bwlimit', '256K'])).code, 0);
    const run = await k.c.json<RunJson>(['job', 'run', 'seed']);
    try {
      for (let i = 0; (await k.c.json<RunJson>(['run', 'show', String(run.id)])).status !== 'running'; i++) {
        assert.ok(i < 100, 'the backup never started');
        await new Promise((r) => setTimeout(r, 100));
      }
      await page.goto(`/snapshots/${k.snapshot}`);
      await page.getByRole('button', { name: 'Forget this snapshot' }).click();
      await page.getByRole('button', { name: 'Yes, forget it' }).click();
      await page.getByRole('alert').filter({ hasText: `snapshot ${k.snapshot} is in use by run ${run.id}` }).waitFor();
      assert.deepEqual((await k.c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'seed'])).map((s) => s.id), [k.snapshot]);
    } finally {
      await k.c.cli(['run', 'cancel', String(run.id)]);
      await k.c.cli(['job', 'edit', 'seed', '--bwlimit', '0']);
      rmSync(slow);
    }
  });

  it('runs a gc after the forget and shows the bytes it freed', async () => {
    const { k, con } = suite;
    const { page } = con;
    await page.getByRole('link', { name: 'Garbage collection' }).click();
    await page.getByRole('heading', { name: 'Garbage collection' }).waitFor();
    await page.getByLabel('Storage server').selectOption('s1');
    await checkPage(page, 'gc');
    await page.getByRole('button', { name: 'Collect garbage' }).click();
    await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
    const freed = page.locator('dd[data-bytes-freed]');
    await freed.waitFor({ timeout: 30_000 });
    const shown = Number(await freed.getAttribute('data-bytes-freed'));
    assert.ok(shown >= 3 * 1024 * 1024, `the forgotten 3 MiB file's chunks are freed (${shown} bytes)`);
    await page.getByRole('heading', { name: 'Freed', exact: true }).waitFor();
    const id = Number(/\/runs\/(\d+)$/.exec(page.url())?.[1]);
    const run = await k.c.json<RunJson>(['run', 'show', String(id)]);
    assert.deepEqual([run.kind, run.status, run.bytesFreed], ['gc', 'succeeded', shown]);
    await checkPage(page, 'gc-run');
  });

  it("applies retention from a job's snapshots: the refusal without a policy, a dry run, then the forget", async () => {
    const { k, con } = suite;
    const { page } = con;
    const second = await k.c.json<RunJson>(['job', 'run', 'seed', '--wait']);
    assert.equal(second.status, 'succeeded');
    await page.goto('/snapshots?job=seed');
    await page.locator('tbody tr').nth(1).waitFor();
    // the job has no policy of its own: the API's refusal is shown, nothing forgotten
    await page.getByRole('button', { name: 'Preview (dry run)' }).click();
    await page.getByRole('alert').filter({ hasText: 'job seed has no retention policy' }).waitFor();
    await page.getByLabel("Keep the last (empty: the job's own policy)").fill('1');
    await page.getByRole('button', { name: 'Preview (dry run)' }).click();
    await page.getByText(`Would keep 1 and forget 1 snapshot(s): ${k.snapshot.slice(0, 12)}.`).waitFor();
    assert.equal((await k.c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'seed'])).length, 2, 'the dry run forgot nothing');
    await page.getByRole('button', { name: 'Forget 1 snapshot(s)' }).click();
    await page.getByText('Forgot 1 snapshot(s); kept 1.').waitFor();
    await page.getByRole('link', { name: k.snapshot.slice(0, 12) }).waitFor({ state: 'detached' });
    assert.deepEqual((await k.c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'seed'])).map((s) => s.id), [second.snapshot]);
  });

  it('shows every part online on the network page with its RTT and throughput charts, and runs a net test', async () => {
    const { con } = suite;
    const { page } = con;
    await page.getByRole('link', { name: 'Network' }).click();
    await page.getByRole('heading', { name: 'Network', exact: true }).waitFor();
    for (const part of ['agent:a1', 'agent:u1', 'storage:s1']) {
      await page.locator(`tr[data-net="${part}"] .badge`, { hasText: 'online' }).waitFor();
      assert.match((await page.locator(`tr[data-net="${part}"] td`).nth(3).textContent()) ?? '', /^\d+\.\d ms$/, `${part}: RTT p50`);
    }
    for (const name of ['a1', 'u1', 's1']) await page.getByRole('img', { name: new RegExp(`^RTT of ${name}: [1-9]\\d* samples$`) }).locator('canvas').waitFor();
    await page.getByRole('img', { name: /^Throughput of a1: [1-9]\d* samples$/ }).locator('canvas').waitFor();
    await page.getByRole('img', { name: /^Throughput of s1: [1-9]\d* samples$/ }).locator('canvas').waitFor();
    await page.getByLabel('From agent').selectOption('a1');
    await page.getByLabel('To storage server').selectOption('s1');
    await page.getByLabel('MiB to send').fill('2');
    await page.getByRole('button', { name: 'Test the network' }).click();
    await page.getByRole('status').filter({ hasText: /^Sent 2\.0 MiB in \d+\.\d\d s: [\d.]+ \S+\/s, RTT \d+\.\d ms\.$/ }).waitFor({ timeout: 30_000 });
    await checkPage(page, 'network');
    assert.deepEqual(con.dialogs, []);
    assert.deepEqual(con.errors.filter((e) => !/status of (400|409)/.test(e)), [], "no console error but the refusals the tests asked for");
  });

  it('gives an auditor no verify, forget, retention, gc or net test, and no gc in the navigation', async () => {
    const { k, con } = suite;
    const added = await k.c.cli(['user', 'add', 'audrey', '--role', 'auditor', '--password-stdin'], 'audrey-password-for-tests\n');
    assert.equal(added.code, 0, added.stderr);
    const context = await con.browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP, baseURL: k.c.url });
    const page = await context.newPage();
    try {
      await logIn(page, 'audrey', 'audrey-password-for-tests');
      assert.equal(await page.getByRole('link', { name: 'Garbage collection' }).count(), 0);
      await page.goto('/snapshots?job=seed');
      await page.getByRole('button', { name: 'Search' }).waitFor(); // reading is allowed
      assert.equal(await page.getByRole('button', { name: 'Preview (dry run)' }).count(), 0);
      const [snap] = await k.c.json<SnapshotJson[]>(['snapshot', 'list', '--job', 'seed']);
      await page.goto(`/snapshots/${snap!.id}`);
      await page.locator('tr[data-entry]').first().waitFor();
      assert.equal(await page.getByRole('button', { name: 'Verify', exact: true }).count(), 0);
      assert.equal(await page.getByRole('button', { name: 'Forget this snapshot' }).count(), 0);
      await page.goto('/network');
      await page.locator('tr[data-net="agent:a1"]').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Test the network' }).count(), 0);
    } finally {
      await context.close();
    }
  });
});

// A run's page follows its log on the event stream (issue 14, "log following live"), in Debian's
// Chromium against a real cluster: the lines written before the page opened come first, a line
// written while it is open appears without a reload, each line once and in the order `run log`
// lists them, from one stream request and no GET of the log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RunJson } from '../../src/protocol/api-types.ts';
import { tempDir } from '../support/cluster.ts';
import { checkAccessible, checkNoSidewaysScroll, consoleForTests, logIn } from './harness.ts';

type Line = { time: string; level: string; part: string; message: string };

describe("a run's page follows its log live", { concurrency: 1 }, () => {
  const t = consoleForTests();

  it('shows a line written while it is open, every line once and in order, without reading the log again', async () => {
    const { k, con } = t;
    const { page } = con;
    await logIn(page, 'admin', k.c.adminPassword);
    const slow = tempDir('cairn-e2e-log-');
    for (let i = 0; i < 4; i++) writeFileSync(join(slow, `random-${i}.bin`), randomBytes(2 * 1024 * 1024));
    const made = await k.c.cli(['job', 'create', 'slow-log', '--agent', 'a1', '--storage', 's1', '--vault', k.vault, '--path', slow, '--bwlimit', '512K']);
    assert.equal(made.code, 0, made.stderr);
    const run = await k.c.json<RunJson>(['job', 'run', 'slow-log']);
    const asked: string[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/api/')) asked.push(`${r.method()} ${url.pathname}${url.search}`);
    });
    await page.goto(`/runs/${run.id}`);
    await page.getByRole('heading', { name: `Run ${run.id}` }).waitFor();
    const log = page.locator('.log li');
    // the lines written before the page opened
    await log.filter({ hasText: /backup \(\w+\) started on agent a1/ }).waitFor({ timeout: 30_000 });
    assert.equal(await log.filter({ hasText: 'cancel requested' }).count(), 0);
    // a line written while the page is open: the cancel's, then the end's
    const cancel = await k.c.cli(['run', 'cancel', String(run.id)]);
    assert.equal(cancel.code, 0, cancel.stderr);
    await log.filter({ hasText: 'cancel requested' }).waitFor({ timeout: 30_000 });
    await page.locator('.badge', { hasText: 'canceled' }).waitFor({ timeout: 30_000 });
    const stored = await k.c.json<Line[]>(['run', 'log', String(run.id)]);
    assert.ok(stored.at(-1)!.message === 'canceled', JSON.stringify(stored));
    for (let i = 0; (await log.count()) < stored.length; i++) {
      assert.ok(i < 100, `${await log.count()} lines shown of ${stored.length}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const shown = await log.allTextContents();
    assert.equal(shown.length, stored.length, 'each line once');
    stored.forEach((l, i) => assert.ok(shown[i]!.endsWith(` ${l.part} ${l.message}`), `line ${i + 1}: ${shown[i]} is not ${l.message}`));
    assert.deepEqual(asked.filter((a) => a.includes('/log')), [], 'no GET of the log');
    assert.deepEqual(asked.filter((a) => a.startsWith('GET /api/events')), [`GET /api/events?run=${run.id}`], 'one stream');
    await checkAccessible(page, 'run log');
    await checkNoSidewaysScroll(page, 'run log');
  });
});

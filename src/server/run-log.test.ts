import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { seededCatalog, type SeedIds } from '../../test/support/catalog-seed.ts';
import type { SqliteDriver } from './catalog/sqlite-driver.ts';
import type { ServerContext } from './context.ts';
import type { StoredEvent } from './http/events.ts';
import { endRunLog, followFrom, runLogQueue } from './run-log.ts';
import { logRun, PartLog, runLog, updateRun } from './runs.ts';

type Published = { type: string; data: { run: number; seq: number; message?: string }; owner: number | null; id: string | undefined };

let db: SqliteDriver;
let ids: SeedIds;
let close: () => Promise<void>;
const published: Published[] = [];
let ctx: ServerContext;

before(async () => {
  ({ db, ids, close } = await seededCatalog('cairn-run-log-'));
  const events = { publish: (type: string, data: Published['data'], owner: number | null = null, id?: string) => published.push({ type, data, owner, id }) };
  ctx = { db, events, log: () => undefined, kick: () => undefined } as unknown as ServerContext;
});
after(() => close());

async function newRun(status = 'running', jobId: number | null = ids.job): Promise<number> {
  const rows = await db.query<{ id: number }>(
    "INSERT INTO runs (job_id, kind, status, queued_at, agent_id, storage_id) VALUES (?, 'backup', ?, 0, ?, ?) RETURNING id",
    [jobId, status, ids.agent, ids.storage],
  );
  return Number(rows[0]!.id);
}

/** A console following `run` from line `from`: what it was replayed, then every event published after it was attached. */
async function follower(run: number, from: number): Promise<() => StoredEvent[]> {
  let replay: StoredEvent[] = [];
  let mark = -1;
  await runLogQueue(ctx).follow(run, from, (r) => {
    replay = r;
    mark = published.length;
  });
  return () => [...replay, ...published.slice(mark).filter((p) => p.data.run === run)];
}

const seqs = (events: StoredEvent[], type = 'log') => events.filter((e) => e.type === type).map((e) => (e.data as { seq: number }).seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("each line of a run is numbered in its run from 1, in the log's order, and pushed once written with its id and its job's owner", async () => {
  const [a, b] = [await newRun(), await newRun('running', null)];
  await logRun(ctx, a, 'one');
  published.length = 0;
  const parts = new PartLog(ctx);
  parts.add(a, 'agent:laptop', { level: 'warn', message: 'two' });
  parts.add(b, 'agent:laptop', { message: 'b one' });
  parts.add(a, 'agent:laptop', { message: 'three' });
  const flushed = parts.flush();
  const last = logRun(ctx, a, 'four', 'error');
  await Promise.all([flushed, last]);
  assert.deepEqual(
    published.map((p) => [p.type, p.data.run, p.data.seq, p.data.message, p.owner, p.id]),
    [
      ['log', a, 2, 'two', ids.user, '2'],
      ['log', b, 1, 'b one', null, '1'],
      ['log', a, 3, 'three', ids.user, '3'],
      ['log', a, 4, 'four', ids.user, '4'],
    ],
  );
  const line = published[3]!.data as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(line), ['run', 'seq', 'time', 'level', 'part', 'message']);
  assert.equal(line.level, 'error');
  assert.equal(line.part, 'server');
  assert.deepEqual((await runLog(db, a, { id: 1, role: 'admin' } as never)).map((l) => l.message), ['one', 'two', 'three', 'four']);
});

test('followers joining while lines are written get each line once, in order, with no gap, whatever line they start after', async () => {
  const run = await newRun();
  const parts = new PartLog(ctx);
  const writes: Promise<void>[] = [];
  const followers: { from: number; got: () => StoredEvent[] }[] = [];
  for (let i = 0; i < 60; i++) {
    if (i % 3 === 0) writes.push(logRun(ctx, run, `server ${i}`));
    else parts.add(run, 'agent:laptop', { message: `agent ${i}` });
    if (i % 7 === 0) writes.push(parts.flush());
    if (i % 10 === 5) {
      const from = i % 20 === 5 ? 0 : 3;
      followers.push({ from, got: await follower(run, from) });
    }
  }
  writes.push(parts.flush());
  await Promise.all(writes);
  assert.equal(followers.length, 6);
  for (const f of followers) assert.deepEqual(seqs(f.got()), range(f.from + 1, 60), `a follower from line ${f.from}`);
  // a follower past the end hears nothing more of the lines it has
  const late = await follower(run, 60);
  assert.deepEqual(late(), []);
});

test("the log ends after the ending path's last line, not at the status change; one end, and at once for a later follower", async () => {
  const run = await newRun();
  await logRun(ctx, run, 'started');
  assert.equal(await updateRun(ctx, run, { status: 'succeeded', ended_at: 1 }, 'running'), true);
  // after the status changed, before the ending path's last line: no end yet
  const early = await follower(run, 0);
  assert.deepEqual(seqs(early(), 'log-end'), []);
  // a second path that finds the run ended changes nothing and holds nothing open
  assert.equal(await updateRun(ctx, run, { status: 'failed', ended_at: 2 }, 'running'), false);
  await logRun(ctx, run, 'succeeded: …');
  await logRun(ctx, run, 'retention: …');
  await endRunLog(ctx, run);
  await endRunLog(ctx, run);
  assert.deepEqual(early().map((e) => [e.type, (e.data as { seq: number }).seq]), [['log', 1], ['log', 2], ['log', 3], ['log-end', 3]]);
  const later = await follower(run, 1);
  assert.deepEqual(later().map((e) => [e.type, (e.data as { seq: number }).seq]), [['log', 2], ['log', 3], ['log-end', 3]]);
  // a run ended by a previous process (never marked here) is complete at once; one still queued is not
  const old = await newRun('failed');
  assert.deepEqual(seqs((await follower(old, 0))(), 'log-end'), [0]);
  const queued = await newRun('queued');
  assert.deepEqual(seqs((await follower(queued, 0))(), 'log-end'), []);
});

test('where a follower starts: Last-Event-ID, else after, else the first line; anything but a line number is refused', () => {
  assert.equal(followFrom(undefined, null), 0);
  assert.equal(followFrom(undefined, '7'), 7);
  assert.equal(followFrom('9', '7'), 9, 'a reconnecting browser says what it has');
  for (const bad of ['-1', 'abc', '1e3', '', '1.5', '9999999999']) {
    assert.throws(() => followFrom(undefined, bad), { code: 'E_BAD_REQUEST', message: new RegExp(`^after must be a log line number`) });
    assert.throws(() => followFrom(bad, null), { code: 'E_BAD_REQUEST', message: /^Last-Event-ID must be a log line number/ });
  }
});

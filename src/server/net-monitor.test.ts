import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { seedParts } from '../../test/support/catalog-seed.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';
import { NetMonitor } from './net-monitor.ts';

const BUCKET_MS = 300;

describe('NetMonitor', () => {
  let db: SqliteDriver;
  let monitor: NetMonitor;
  let storage = 0;
  const nas = { kind: 'storage', name: 'nas' } as const;
  const count = async (sql: string) => (await db.query<{ n: number }>(sql))[0]!.n;

  before(async () => {
    process.env.CAIRN_TEST = '1';
    process.env.CAIRN_TEST_NET_BUCKET_MS = String(BUCKET_MS);
    db = new SqliteDriver(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-net-')), 'catalog.db'));
    await migrate(db);
    storage = (await seedParts(db)).storage;
    monitor = new NetMonitor(db, (line) => assert.fail(line));
    await monitor.start();
  });
  after(async () => {
    await monitor.close();
    await db.close();
  });

  it('keeps heartbeats in memory and writes one sample per part when its bucket closes', async () => {
    while (Date.now() % BUCKET_MS > BUCKET_MS / 4) await sleep(5); // at the start of a bucket
    monitor.online(nas, storage);
    for (const rtt of [1, 2, 3, 4]) monitor.heartbeat(nas, rtt);
    const live = monitor.contact(nas)!;
    assert.equal(live.rttUs, 4000);
    assert.deepEqual(monitor.percentiles(nas), { p50Us: 2000, p99Us: 4000 });
    assert.equal(await count("SELECT COUNT(*) AS n FROM net_samples WHERE part_kind = 'storage' AND heartbeats > 0"), 0, 'no write per heartbeat');
    await sleep(BUCKET_MS * 1.5);
    await monitor.flush();
    const rows = await db.query<{ bucket_ms: number; rtt_us: number; rtt_p99_us: number; heartbeats: number; online: number }>(
      // the minute tier only: the scaled hour (60 buckets) may close too while the test sleeps, at a wall-clock boundary
      'SELECT bucket_ms, rtt_us, rtt_p99_us, heartbeats, online FROM net_samples WHERE part_id = ? AND heartbeats > 0 AND bucket_ms = ?',
      [storage, BUCKET_MS],
    );
    assert.deepEqual(rows.map((r) => ({ ...r })), [{ bucket_ms: BUCKET_MS, rtt_us: 2500, rtt_p99_us: 4000, heartbeats: 4, online: 1 }]);
    const [row] = await db.query<{ last_seen: number; rtt_ms: number }>('SELECT last_seen, rtt_ms FROM storages WHERE id = ?', [storage]);
    assert.equal(row!.last_seen, live.lastSeen, 'the last heartbeat is written with the samples');
    assert.equal(row!.rtt_ms, 4);
  });

  it('writes an offline bucket without RTTs, and forgets a removed part', async () => {
    monitor.offline(nas);
    await sleep(BUCKET_MS * 2.5);
    await monitor.flush();
    assert.ok((await count(`SELECT COUNT(*) AS n FROM net_samples WHERE part_id = ${storage} AND online = 0 AND rtt_us IS NULL`)) >= 1);
    monitor.forget(nas);
    assert.equal(monitor.contact(nas), undefined);
    const samples = `SELECT COUNT(*) AS n FROM net_samples WHERE part_kind = 'storage' AND part_id = ${storage}`;
    const before = await count(samples);
    await sleep(BUCKET_MS * 1.5);
    await monitor.flush();
    assert.equal(await count(samples), before);
    assert.ok((await count("SELECT COUNT(*) AS n FROM net_samples WHERE part_kind = 'agent' AND online = 0")) >= 3, 'the agent never heard is sampled offline');
  });
});

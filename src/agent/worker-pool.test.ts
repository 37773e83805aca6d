import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { WorkerPool } from './worker-pool.ts';

const ENTRY = new URL('./worker-pool.test-worker.ts', import.meta.url);

test('runs tasks on workers, passes workerData, keeps errors typed', async () => {
  const pool = new WorkerPool<{ op: string; value?: number }, { value: number; tag: string }>(ENTRY, {
    size: 2,
    workerData: { tag: 'T' },
  });
  try {
    const results = await Promise.all([1, 2, 3, 4, 5].map((value) => pool.run({ op: 'echo', value })));
    assert.deepEqual(
      results.map((r) => r.value),
      [1, 2, 3, 4, 5],
    );
    assert.ok(results.every((r) => r.tag === 'T'));
    await assert.rejects(
      pool.run({ op: 'fail', value: 7 }),
      (e) => isCairnError(e, 'E_CORRUPT') && /failed 7/.test(e.message),
    );
    assert.equal(
      (await pool.run({ op: 'echo', value: 9 })).value,
      9,
      'a failed task leaves the worker usable',
    );
  } finally {
    await pool.close();
  }
});

test('moves ArrayBuffers both ways without copying', async () => {
  const pool = new WorkerPool<{ op: string; value: number; bytes: ArrayBuffer }, ArrayBuffer>(ENTRY, {
    size: 1,
  });
  try {
    const bytes = new ArrayBuffer(1 << 20);
    const back = await pool.run({ op: 'fill', value: 5, bytes }, [bytes]);
    assert.equal(bytes.byteLength, 0, 'the sender no longer owns the buffer');
    assert.equal(back.byteLength, 1 << 20);
    assert.equal(new Uint8Array(back)[12345], 5);
  } finally {
    await pool.close();
  }
});

test('urgent tasks jump the queue', async () => {
  const pool = new WorkerPool<{ op: string; value: number }, { value: number }>(ENTRY, { size: 1 });
  try {
    const order: number[] = [];
    const all = [
      pool.run({ op: 'echo', value: 1 }),
      pool.run({ op: 'echo', value: 2 }),
      pool.run({ op: 'echo', value: 3 }, [], true),
    ].map((p) => p.then((r) => order.push(r.value)));
    await Promise.all(all);
    assert.deepEqual(order, [1, 3, 2]);
  } finally {
    await pool.close();
  }
});

test('a crashed worker fails the pool instead of losing the task', async () => {
  const pool = new WorkerPool<{ op: string }, unknown>(ENTRY, { size: 1 });
  try {
    await assert.rejects(pool.run({ op: 'crash' }), (e) => isCairnError(e, 'E_INTERNAL'));
    await assert.rejects(pool.run({ op: 'echo' }), (e) => isCairnError(e, 'E_INTERNAL'));
  } finally {
    await pool.close();
  }
});

// applyNice in a process of its own (it renices every thread of the caller): the threads there
// before and a worker thread started after all run at the value; checkNice refuses what
// setpriority(2) would not take.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { checkNice } from './priority.ts';

const linux = process.platform === 'linux';

test('every thread, and a worker started afterwards, runs at the nice value set', { skip: !linux && 'reads /proc' }, () => {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { Worker } from 'node:worker_threads';
    import { applyNice } from ${JSON.stringify(new URL('./priority.ts', import.meta.url).href)};
    const nices = () => readdirSync('/proc/self/task').map((t) =>
      Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').replace(/^.*\\) /s, '').split(' ')[16]));
    const before = nices().length;
    applyNice(7);
    const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
    w.once('online', () => {
      setTimeout(() => {
        const after = nices();
        console.log(JSON.stringify({ before, after }));
        void w.terminate();
      }, 200);
    });`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const { before, after } = JSON.parse(out) as { before: number; after: number[] };
  assert.ok(after.length > before, `the worker's threads are there (${before} → ${after.length})`);
  assert.deepEqual(after, Array(after.length).fill(7));
});

test('checkNice takes -20..19 as numbers or strings and refuses the rest', () => {
  const fail = (why: string) => new Error(why);
  assert.equal(checkNice('10', fail), 10);
  assert.equal(checkNice('-20', fail), -20);
  assert.equal(checkNice(19, fail), 19);
  for (const bad of ['20', '-21', '1.5', 'ten', '', '0x5', 3.5, null]) {
    assert.throws(() => checkNice(bad, fail), /nice must be a whole number from -20 \(most CPU\) to 19 \(least\)/, String(bad));
  }
});

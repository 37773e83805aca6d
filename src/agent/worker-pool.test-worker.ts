// Worker entry used by worker-pool.test.ts: echoes, fails, transfers and crashes on demand.
import { workerData } from 'node:worker_threads';
import { CairnError } from '../core/errors.ts';
import { serveTasks } from './worker-pool.ts';

type Task = { op: 'echo' | 'fail' | 'crash' | 'fill'; value?: number; bytes?: ArrayBuffer };

serveTasks<Task, unknown>((task) => {
  if (task.op === 'echo') return { result: { value: task.value, tag: workerData?.tag } };
  if (task.op === 'fail') throw new CairnError('E_CORRUPT', `failed ${task.value}`);
  if (task.op === 'crash') process.exit(3);
  const bytes = new Uint8Array(task.bytes!);
  bytes.fill(task.value ?? 0);
  return { result: bytes.buffer, transfer: [bytes.buffer] };
});

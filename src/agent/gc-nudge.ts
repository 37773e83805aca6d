// Garbage-collection nudges for the agent's data path. Bulk bytes (sealed chunks, zstd output)
// live in ArrayBuffers whose JS handles are tiny, so V8 collects them only when its external
// memory counter has grown by tens of MB: each isolate then holds that much dead memory, and
// glibc keeps the pages. A young-generation collection right after a task frees the task's
// dead buffers for ~0.2 ms; a full one when a run ends hands the idle daemon's memory back.
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gcFunction: GcFunction | undefined;

function gc(): GcFunction {
  if (!gcFunction) {
    // --expose-gc set at run time reaches only contexts made after it: take `gc` from a new one
    v8.setFlagsFromString('--expose-gc');
    gcFunction = vm.runInNewContext('gc') as GcFunction;
  }
  return gcFunction;
}

/** Frees the dead objects (and their ArrayBuffers) of the young generation: cheap, often. */
export function collectYoung(): void {
  gc()({ type: 'minor' });
}

/** A full collection: after a run, so an idle agent gives back what the run left. */
export function collectAll(): void {
  gc()({ type: 'major' });
}

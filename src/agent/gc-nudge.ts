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

/** The main isolate's heap is looked at this often while a run executes. */
const HEAP_CHECK_MS = 250;
/**
 * No collection below this heap (a small heap's garbage is not worth a full collection). At 64 MiB
 * a backup of 200,000 tiny files let its heap (live ~12-19 MB) grow to 50-76 MB between V8's own
 * collections, and the agent's peak moved with when they fell: 200-221 MiB in two first backups;
 * at 32 MiB, 185-187 MiB, at the same time (docs/performance.md, "twelfth part").
 */
const HEAP_FLOOR = 32 * 1024 * 1024;

let watchers = 0;
let heapTimer: NodeJS.Timeout | undefined;
/** what the last full collection this module made left in use */
let heapAfterCollect = 0;

/**
 * Bounds the main isolate's heap while runs execute: a full collection once it has grown to
 * twice what the last one left (and at least HEAP_FLOOR). A restore of many small files keeps
 * thousands of files in flight, each living long enough to be promoted out of the (1 MiB) young
 * generation; V8 first collects the old generation near a limit sized for the machine, so the
 * agent's heap grew to ~300 MB of garbage around a live set of ~50 MB (docs/performance.md).
 * Returns the function that ends this run's watch (the timer stops with the last one).
 */
export function watchHeap(): () => void {
  if (watchers++ === 0) {
    heapAfterCollect = 0;
    heapTimer = setInterval(() => {
      if (!heapWantsCollect(v8.getHeapStatistics().used_heap_size, heapAfterCollect)) return;
      collectAll();
      heapAfterCollect = v8.getHeapStatistics().used_heap_size;
    }, HEAP_CHECK_MS);
    heapTimer.unref();
  }
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    if (--watchers === 0) clearInterval(heapTimer);
  };
}

/** The watch's rule: a full collection once the heap is past HEAP_FLOOR and twice what the last one left. */
export function heapWantsCollect(used: number, afterLastCollect: number): boolean {
  return used >= HEAP_FLOOR && used >= 2 * afterLastCollect;
}

/** Whether a run's heap watch is on (tests). */
export function watchingHeap(): boolean {
  return watchers > 0;
}

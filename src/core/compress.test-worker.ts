// Worker entry used by compress.test.ts: compressIfWorth where it keeps its zstd context (a
// worker thread), each result reported as it was returned (copied, with whether it was borrowed
// and which buffer it lay in).
import { parentPort } from 'node:worker_threads';
import { compressIfWorth } from './compress.ts';

const buffers: ArrayBufferLike[] = [];
parentPort!.on('message', (chunks: Uint8Array[]) => {
  const results = chunks.map((chunk) => {
    const r = compressIfWorth(chunk);
    if (!buffers.includes(r.bytes.buffer)) buffers.push(r.bytes.buffer);
    return { flag: r.flag, bytes: Uint8Array.from(r.bytes), borrowed: r.borrowed === true, buffer: buffers.indexOf(r.bytes.buffer), isInput: r.bytes === chunk };
  });
  parentPort!.postMessage(results);
});

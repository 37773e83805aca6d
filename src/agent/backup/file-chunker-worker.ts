// Worker-thread entry of the backup pipeline. Two kinds of task: `chunk` reads files into a
// shared arena and cuts and hashes their chunks (every chunk pays for this), `seal` compresses
// and encrypts the chunks the storage turned out not to have (only new chunks pay for this),
// reading them from the same arena. Sealed blobs leave as transferred ArrayBuffers.
import { type TransferListItem, workerData } from 'node:worker_threads';
import { sealBlobParts } from '../../core/blob.ts';
import { gearTable } from '../../core/chunker.ts';
import { spansItsBuffer } from '../../core/free-owned.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { serveTasks } from '../worker-pool.ts';
import { type ChunkerWorkerData, SEALED_PARTS, type SealResult, type SealTask, type WorkerResult, type WorkerTask } from './chunk-messages.ts';
import { type ReaderContext, readPieces } from './file-reader.ts';

const data = workerData as ChunkerWorkerData;
// Structured cloning turns Buffers into plain Uint8Arrays: make them Buffers again.
const keys: VaultKeys = {
  encKey: Buffer.from(data.keys.encKey),
  idKey: Buffer.from(data.keys.idKey),
  chunkerKey: Buffer.from(data.keys.chunkerKey),
};
const ctx: ReaderContext = { keys, chunker: data.chunker, gear: gearTable(keys.chunkerKey) };
const arenas = data.arenas.map((sab) => new Uint8Array(sab));

/** Small parts may live in Node's shared pool slab, which cannot be transferred: copy those. */
function ownsItsBuffer(b: Buffer): boolean {
  return spansItsBuffer(b) && b.length >= 4096;
}

function seal(task: SealTask): { result: SealResult; transfer: TransferListItem[] } {
  const arena = arenas[task.arena]!;
  const count = task.refs.length / 2;
  const refs = new Int32Array(count * SEALED_PARTS * 3);
  const buffers: ArrayBuffer[] = [];
  // parts too small to move on their own (heads, tags, small bodies) and their slots in refs
  const small: Buffer[] = [];
  const smallSlots: number[] = [];
  let smallSize = 0;
  for (let i = 0; i < count; i++) {
    const offset = task.refs[i * 2]!;
    const length = task.refs[i * 2 + 1]!;
    const id = task.ids.subarray(i * 32, i * 32 + 32);
    const parts = sealBlobParts(keys, task.type, id, arena.subarray(offset, offset + length));
    parts.forEach((part, p) => {
      const slot = (i * SEALED_PARTS + p) * 3;
      if (ownsItsBuffer(part)) {
        refs[slot] = buffers.length;
        refs[slot + 1] = 0;
        refs[slot + 2] = part.length;
        buffers.push(part.buffer as ArrayBuffer);
      } else {
        smallSlots.push(slot);
        small.push(part);
        smallSize += part.length;
      }
    });
  }
  if (small.length > 0) {
    const joined = Buffer.allocUnsafeSlow(smallSize);
    let at = 0;
    small.forEach((b, k) => {
      const slot = smallSlots[k]!;
      b.copy(joined, at);
      refs[slot] = buffers.length;
      refs[slot + 1] = at;
      refs[slot + 2] = b.length;
      at += b.length;
    });
    buffers.push(joined.buffer as ArrayBuffer);
  }
  return { result: { refs, buffers }, transfer: buffers };
}

serveTasks<WorkerTask, WorkerResult>((task) => {
  if (task.kind === 'seal') return seal(task);
  return { result: readPieces(ctx, task.pieces, arenas[task.arena]!) };
});

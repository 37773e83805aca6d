// Worker-thread entry of the backup pipeline. Two kinds of task: `chunk` reads files into a
// shared arena and cuts and hashes their chunks (every chunk pays for this), `seal` compresses
// and encrypts the chunks the storage turned out not to have (only new chunks pay for this),
// reading them from the same arena, into the seal ring (seal-ring.ts) as whole pack entries.
import { type TransferListItem, workerData } from 'node:worker_threads';
import { sealBlobInto } from '../../core/blob.ts';
import { gearTable } from '../../core/chunker.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { ENTRY_HEADER_SIZE, writeEntryHeader } from '../../core/pack.ts';
import { serveTasks } from '../worker-pool.ts';
import { type ChunkerWorkerData, type SealResult, type SealTask, type WorkerResult, type WorkerTask } from './chunk-messages.ts';
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

/** Seals the task's chunks as whole pack entries, back to back, into its region of the ring or a buffer of its own. */
function seal(task: SealTask): { result: SealResult; transfer: TransferListItem[] } {
  const arena = arenas[task.arena]!;
  const out = task.out >= 0 ? Buffer.from(data.sealRing, task.out, task.outLength) : Buffer.allocUnsafeSlow(task.outLength);
  const count = task.refs.length / 2;
  const entries = new Int32Array(count * 2);
  let used = 0;
  for (let i = 0; i < count; i++) {
    const offset = task.refs[i * 2]!;
    const id = task.ids.subarray(i * 32, i * 32 + 32);
    const plain = arena.subarray(offset, offset + task.refs[i * 2 + 1]!);
    const sealed = sealBlobInto(keys, task.type, id, plain, out, used + ENTRY_HEADER_SIZE);
    writeEntryHeader(out, used, task.type, id, sealed);
    entries[i * 2] = used;
    entries[i * 2 + 1] = ENTRY_HEADER_SIZE + sealed;
    used += ENTRY_HEADER_SIZE + sealed;
  }
  if (task.out >= 0) return { result: { entries, used }, transfer: [] };
  const buffer = out.buffer as ArrayBuffer;
  return { result: { entries, used, buffer }, transfer: [buffer] };
}

serveTasks<WorkerTask, WorkerResult>((task) => {
  if (task.kind === 'seal') return seal(task);
  return { result: readPieces(ctx, task.pieces, arenas[task.arena]!) };
});

// Worker entry for restore: opens sealed data blobs (AES-GCM, zstd, id re-check — the CPU part of
// a restore) off the main thread. A task carries several blobs in one transferred buffer so small
// files do not pay a message each; the answer says per blob whether it is all zeros (then no
// bytes come back: it becomes a hole), its plaintext (moved back, not copied), or why it failed.
import { workerData } from 'node:worker_threads';
import { BLOB_DATA, openBlob } from '../../core/blob.ts';
import { CairnError } from '../../core/errors.ts';
import type { VaultKeys } from '../../core/keys.ts';
import { serveTasks } from '../worker-pool.ts';

export type OpenTask = {
  /** sealed blobs back to back, starting at byte 0 (a buffer of its own, transferred) */
  sealed: ArrayBuffer;
  /** their ids back to back, 32 bytes each */
  ids: ArrayBuffer;
  lengths: number[];
};

/**
 * Per blob: where its plaintext is (`buffer` indexes `buffers`), -1 - length for an all-zero
 * blob (no bytes come back: it becomes a hole), or why it failed.
 */
export type OpenOutcome =
  | { buffer: number; offset: number; length: number }
  | number
  | { code: string; message: string };

export type OpenResult = { buffers: ArrayBuffer[]; outcomes: OpenOutcome[] };

/** Keys travel as workerData (structured clone turns Buffers into Uint8Arrays). */
export type OpenWorkerData = { encKey: Uint8Array; idKey: Uint8Array; chunkerKey: Uint8Array };

/** Plaintexts at least this large travel in their own buffer (moved, not copied); smaller ones are packed together. */
const OWN_BUFFER_MIN = 64 * 1024;

let zeros = Buffer.alloc(0);

function isAllZero(b: Buffer): boolean {
  if (b.length > zeros.length) zeros = Buffer.alloc(Math.max(b.length, 4 << 20));
  return b.equals(zeros.subarray(0, b.length));
}

function serve(): void {
  const data = workerData as OpenWorkerData;
  const keys: VaultKeys = {
    encKey: Buffer.from(data.encKey),
    idKey: Buffer.from(data.idKey),
    chunkerKey: Buffer.from(data.chunkerKey),
  };
  serveTasks<OpenTask, OpenResult>((task) => {
    const sealed = Buffer.from(task.sealed);
    const ids = Buffer.from(task.ids);
    const outcomes: OpenOutcome[] = [];
    const buffers: ArrayBuffer[] = [];
    const small: { plain: Buffer; outcome: { buffer: number; offset: number; length: number } }[] = [];
    let smallTotal = 0;
    let at = 0;
    task.lengths.forEach((length, i) => {
      const id = ids.subarray(i * 32, i * 32 + 32);
      try {
        const plain = openBlob(keys, BLOB_DATA, id, sealed.subarray(at, at + length));
        if (isAllZero(plain)) outcomes.push(-1 - plain.length);
        else if (plain.length >= OWN_BUFFER_MIN && plain.buffer instanceof ArrayBuffer) {
          // a large plaintext owns its buffer (decipher or zstd output, never Node's small-buffer pool)
          outcomes.push({ buffer: buffers.length, offset: plain.byteOffset, length: plain.length });
          buffers.push(plain.buffer);
        } else {
          const outcome = { buffer: -1, offset: smallTotal, length: plain.length };
          small.push({ plain, outcome });
          outcomes.push(outcome);
          smallTotal += plain.length;
        }
      } catch (e) {
        const code = e instanceof CairnError ? e.code : 'E_INTERNAL';
        outcomes.push({ code, message: (e as Error).message });
      }
      at += length;
    });
    if (small.length) {
      const packed = new Uint8Array(new ArrayBuffer(smallTotal));
      for (const { plain, outcome } of small) {
        packed.set(plain, outcome.offset);
        outcome.buffer = buffers.length;
      }
      buffers.push(packed.buffer);
    }
    return { result: { buffers, outcomes }, transfer: buffers };
  });
}

serve();

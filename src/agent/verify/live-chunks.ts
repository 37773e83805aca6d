// The chunk ids a live file would get in a backup now: read through one buffer of twice the
// largest chunk, cut with the vault's chunker (the same cut points the backup's reader finds:
// it too always has `max` bytes ahead of a chunk's start, except at the end of the file) and
// hashed with the vault's id key. Memory is that one buffer whatever the file's size.
import fs from 'node:fs';
import { type ChunkerParams, cutPoint } from '../../core/chunker.ts';
import { chunkId, type VaultKeys } from '../../core/keys.ts';

export type LiveChunk = { id: Buffer; offset: number; length: number };

export type Rechunker = { keys: VaultKeys; chunker: ChunkerParams; gear: Int32Array };

/** Reads are at most this large (and at least `max`, so a chunk is always reachable). */
const READ_BYTES = 4 * 1024 * 1024;

export async function* liveChunks(path: Buffer, r: Rechunker, signal?: AbortSignal): AsyncGenerator<LiveChunk> {
  const { max } = r.chunker;
  const buffer = Buffer.allocUnsafe(max + Math.max(max, READ_BYTES));
  // O_NOFOLLOW: the node was compared as a regular file; a symlink swapped in since is not read through
  const handle = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    let start = 0; // next chunk's start in the buffer
    let filled = 0; // end of the bytes read
    let offset = 0; // file offset of buffer[start]
    let eof = false;
    for (;;) {
      while (!eof && filled - start < max) {
        if (filled === buffer.length) {
          buffer.copy(buffer, 0, start, filled);
          filled -= start;
          start = 0;
        }
        signal?.throwIfAborted();
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
        if (bytesRead === 0) eof = true;
        filled += bytesRead;
      }
      if (start === filled) return;
      const length = cutPoint(r.chunker, r.gear, buffer, start, filled);
      yield { id: chunkId(r.keys, buffer.subarray(start, start + length)), offset, length };
      start += length;
      offset += length;
    }
  } finally {
    await handle.close();
  }
}

/** Why the live file's content is not the snapshot's (`chunks`), or undefined when it is. */
export async function contentDifference(path: Buffer, chunks: readonly Buffer[], r: Rechunker, signal?: AbortSignal): Promise<string | undefined> {
  let index = 0;
  for await (const chunk of liveChunks(path, r, signal)) {
    const expected = chunks[index];
    if (!expected?.equals(chunk.id))
      return `content differs from the snapshot from byte ${chunk.offset} (chunk ${index + 1} of ${chunks.length})`;
    index++;
  }
  if (index !== chunks.length) return `content differs from the snapshot: it ends after ${index} of ${chunks.length} chunks`;
  return undefined;
}

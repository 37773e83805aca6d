// What the backup's main thread and its chunker workers say to each other. File bytes live in
// "arenas": SharedArrayBuffers created once and known to every worker (workerData), so a task
// names an arena by index and no file byte is ever copied or transferred between threads.
// Per-chunk facts travel as small typed arrays: `refs` holds (offset, length) pairs within the
// task's arena, `ids` the 32-byte chunk ids back to back. Sealed blobs come back as transferred
// ArrayBuffers.
import type { BlobType } from '../../core/blob.ts';
import type { ChunkerParams } from '../../core/chunker.ts';
import type { VaultKeys } from '../../core/keys.ts';

export type ChunkerWorkerData = { keys: VaultKeys; chunker: ChunkerParams; arenas: SharedArrayBuffer[] };

/**
 * A stretch of one file to read and chunk: from `offset`, until EOF or `limit` bytes were cut.
 * `dev`/`ino` are the scan's lstat: the worker reads only that inode (file-reader.ts).
 */
export type FilePiece = { path: Uint8Array; offset: number; limit: number; dev: bigint; ino: bigint };

/** Read and chunk pieces into arena number `arena`, one after the other. */
export type ChunkTask = { kind: 'chunk'; pieces: FilePiece[]; arena: number };

export type PieceOutcome = {
  /** number of chunks this piece produced (pieces' chunks follow each other in refs/ids) */
  chunks: number;
  /** file offset just after the last chunk: where a continuation starts */
  end: number;
  /** false when the piece stopped at its limit or because the arena was full */
  eof: boolean;
  /** fstat when EOF was reached, to notice a file that changed while it was read */
  after?: { size: number; mtimeNs: bigint; ctimeNs: bigint };
  /** set when the piece could not be read (vanished, permission, I/O error) */
  error?: string;
};

export type ChunkResult = { refs: Int32Array; ids: Uint8Array; pieces: PieceOutcome[] };

/** Compress and seal some chunks of an arena (the new ones). */
export type SealTask = { kind: 'seal'; type: BlobType; arena: number; refs: Int32Array; ids: Uint8Array };

/** Parts per sealed blob in a SealResult: head, body, tag (sealBlobParts). */
export const SEALED_PARTS = 3;

/** Sealed blobs: (buffer index, offset, length) per part, SEALED_PARTS per chunk, in task order. */
export type SealResult = { refs: Int32Array; buffers: ArrayBuffer[] };

export type WorkerTask = ChunkTask | SealTask;
export type WorkerResult = ChunkResult | SealResult;

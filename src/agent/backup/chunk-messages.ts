// What the backup's main thread and its chunker workers say to each other. File bytes live in
// "arenas": SharedArrayBuffers created once and known to every worker (workerData), so a task
// names an arena by index and no file byte is ever copied or transferred between threads.
// Per-chunk facts travel as small typed arrays: `refs` holds (offset, length) pairs within the
// task's arena, `ids` the 32-byte chunk ids back to back. Sealed blobs are written into the seal
// ring, another SharedArrayBuffer (seal-ring.ts), and come back as offsets.
import type { BlobType } from '../../core/blob.ts';
import type { ChunkerParams } from '../../core/chunker.ts';
import type { VaultKeys } from '../../core/keys.ts';

export type ChunkerWorkerData = { keys: VaultKeys; chunker: ChunkerParams; arenas: SharedArrayBuffer[]; sealRing: SharedArrayBuffer };

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

/**
 * Compress and seal some chunks of an arena (the new ones) into whole pack entries, back to back:
 * from `out` in the seal ring (seal-ring.ts), or, when `out` is -1, into a buffer of the worker's
 * own; `outLength` bytes hold their worst case.
 */
export type SealTask = { kind: 'seal'; type: BlobType; arena: number; refs: Int32Array; ids: Uint8Array; out: number; outLength: number };

/**
 * Sealed entries: (offset, length) per chunk in task order, relative to where they were written;
 * `used` bytes from there; `buffer` (transferred) when the worker sealed into its own.
 */
export type SealResult = { entries: Int32Array; used: number; buffer?: ArrayBuffer };

export type WorkerTask = ChunkTask | SealTask;
export type WorkerResult = ChunkResult | SealResult;

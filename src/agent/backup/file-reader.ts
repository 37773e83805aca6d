// Worker side of reading: pulls file bytes into an arena with readSync, cuts them into chunks
// and computes each chunk's keyed id. One arena holds many chunks back to back (a batch of
// small files, or one segment of a big file), so the main thread gets one answer per task, not
// one per chunk. The chunker needs `max` bytes ahead of a chunk's start to know a boundary is
// real, except at EOF. A piece stops at the first boundary past its limit, or when the arena is
// full (a file that grew since its lstat); the main thread continues it in another task.
// Every open (the first and each later segment's) reads the inode the scan saw or nothing: no
// symlink is followed, nothing blocks on a FIFO put in the file's place, and an fd whose device
// and inode differ from the scan's lstat fails the piece (a file swapped since the scan).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { type ChunkerParams, cutPoint } from '../../core/chunker.ts';
import { chunkId, type VaultKeys } from '../../core/keys.ts';
import type { ChunkResult, FilePiece, PieceOutcome } from './chunk-messages.ts';

export type ReaderContext = { keys: VaultKeys; chunker: ChunkerParams; gear: Int32Array };

type Cursor = { arena: Uint8Array; used: number; refs: number[]; ids: Buffer[] };

export function readPieces(ctx: ReaderContext, pieces: FilePiece[], arena: Uint8Array): ChunkResult {
  const cur: Cursor = { arena, used: 0, refs: [], ids: [] };
  const outcomes: PieceOutcome[] = [];
  let full = false;
  for (const piece of pieces) {
    if (full) {
      outcomes.push({ chunks: 0, end: piece.offset, eof: false });
      continue;
    }
    const before = cur.ids.length;
    let fd: number;
    try {
      fd = openScanned(piece);
    } catch (e) {
      outcomes.push({ chunks: 0, end: piece.offset, eof: true, error: reasonOf(e) });
      continue;
    }
    try {
      const o = readPiece(ctx, fd, piece, cur);
      full = o.full;
      outcomes.push({ ...o.outcome, chunks: cur.ids.length - before });
    } catch (e) {
      // The main thread ignores a failed piece's chunks.
      outcomes.push({ chunks: cur.ids.length - before, end: piece.offset, eof: true, error: reasonOf(e) });
    } finally {
      closeSync(fd);
    }
  }
  const ids = new Uint8Array(cur.ids.length * 32);
  cur.ids.forEach((id, i) => {
    ids.set(id, i * 32);
  });
  return { refs: Int32Array.from(cur.refs), ids, pieces: outcomes };
}

function readPiece(
  ctx: ReaderContext,
  fd: number,
  piece: FilePiece,
  cur: Cursor,
): { outcome: Omit<PieceOutcome, 'chunks'>; full: boolean } {
  const { max } = ctx.chunker;
  const { arena } = cur;
  let start = cur.used; // start of the next chunk
  let filled = start; // end of the bytes read so far
  let filePos = piece.offset; // file offset of `filled`
  let eof = false;
  let full = false;
  while (start - cur.used < piece.limit) {
    if (!eof && filled - start < max) {
      if (filled === arena.length) {
        full = true;
        break;
      }
      const n = readSync(fd, arena, filled, arena.length - filled, filePos);
      if (n === 0) eof = true;
      filled += n;
      filePos += n;
      continue;
    }
    if (start === filled) break;
    const length = nextCut(ctx, arena, start, filled);
    cur.refs.push(start, length);
    cur.ids.push(chunkId(ctx.keys, arena.subarray(start, start + length)));
    start += length;
  }
  const end = piece.offset + (start - cur.used);
  cur.used = start; // bytes read past the last chunk are dropped: a continuation reads them again
  if (!(eof && start === filled)) return { outcome: { end, eof: false }, full };
  const st = fstatSync(fd, { bigint: true });
  return {
    outcome: { end, eof: true, after: { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs } },
    full,
  };
}

/**
 * cutPoint over [start, filled), looking at a window of 2×avg first: the chunker copies what it
 * may scan, and most chunks end well before max. A cut found inside the window is the same cut
 * a full look would find (the scan is sequential); only when none is found is the rest scanned.
 */
function nextCut(ctx: ReaderContext, arena: Uint8Array, start: number, filled: number): number {
  const window = start + 2 * ctx.chunker.avg;
  if (window < filled) {
    const length = cutPoint(ctx.chunker, ctx.gear, arena, start, window);
    if (length < window - start) return length;
  }
  return cutPoint(ctx.chunker, ctx.gear, arena, start, filled);
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const REPLACED = 'replaced by another file since it was scanned';

/** Opens the piece's file, or throws when what is there now is not the inode scanned. */
function openScanned(piece: FilePiece): number {
  const fd = openSync(Buffer.from(piece.path.buffer, piece.path.byteOffset, piece.path.byteLength), OPEN_FLAGS);
  const st = fstatSync(fd, { bigint: true });
  if (st.dev !== piece.dev || st.ino !== piece.ino || !st.isFile()) {
    closeSync(fd);
    throw new Error(REPLACED);
  }
  return fd;
}

function reasonOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ELOOP') return 'replaced by a symbolic link since it was scanned';
  if (err?.code === 'ENOENT') return 'vanished during the backup';
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return 'permission denied';
  return err?.message ?? String(e);
}

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chunkLengths, gearTable } from '../../core/chunker.ts';
import { chunkId, generateVaultKeys } from '../../core/keys.ts';
import type { ChunkResult, FilePiece } from './chunk-messages.ts';
import { type ReaderContext, readPieces } from './file-reader.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const keys = generateVaultKeys();
const ctx: ReaderContext = { keys, chunker: { min: 1024, avg: 4096, max: 16384 }, gear: gearTable(keys.chunkerKey) };

function chunksOf(r: ChunkResult, arena: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < r.refs.length / 2; i++) {
    out.push(Buffer.from(arena.subarray(r.refs[i * 2]!, r.refs[i * 2]! + r.refs[i * 2 + 1]!)));
  }
  return out;
}

/** A piece of the file at `path` as the scan saw it (its lstat now; none: a file that vanished). */
function piece(path: string, offset = 0, limit = Number.MAX_SAFE_INTEGER): FilePiece {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return { path: Buffer.from(path), offset, limit, dev: st?.dev ?? 0n, ino: st?.ino ?? 0n };
}

function write(name: string, content: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

test('a batch of files: chunks match whole-buffer chunking, ids are the keyed HMAC', () => {
  const contents = [randomBytes(100_000), Buffer.alloc(0), randomBytes(5), randomBytes(40_000)];
  const paths = contents.map((c, i) => write(`f${i}`, c));
  const arena = new Uint8Array(new SharedArrayBuffer(200_000));
  const r = readPieces(
    ctx,
    paths.map((p) => piece(p)),
    arena,
  );
  const chunks = chunksOf(r, arena);
  let k = 0;
  contents.forEach((c, i) => {
    const outcome = r.pieces[i]!;
    assert.equal(outcome.eof, true);
    assert.equal(outcome.end, c.length);
    assert.equal(outcome.after?.size, c.length);
    const mine = chunks.slice(k, k + outcome.chunks);
    k += outcome.chunks;
    assert.deepEqual(
      mine.map((m) => m.length),
      chunkLengths(ctx.chunker, ctx.gear, c),
    );
    assert.ok(Buffer.concat(mine).equals(c));
  });
  chunks.forEach((c, i) => {
    assert.ok(Buffer.from(r.ids.subarray(i * 32, i * 32 + 32)).equals(chunkId(keys, c)));
  });
});

test('pieces continued where they stopped (limit or full arena) give the same chunks', () => {
  const big = randomBytes(300_000);
  const other = randomBytes(20_000);
  const pBig = write('big', big);
  const pOther = write('other', other);
  const lengths = new Map<string, number[]>([
    [pBig, []],
    [pOther, []],
  ]);
  // The arena is too small for both: the batch stops, the rest continues in new tasks.
  let todo: FilePiece[] = [piece(pBig, 0, 50_000), piece(pOther)];
  let rounds = 0;
  while (todo.length > 0) {
    const arena = new Uint8Array(new SharedArrayBuffer(50_000 + ctx.chunker.max));
    const r = readPieces(ctx, todo, arena);
    const chunks = chunksOf(r, arena);
    let k = 0;
    const next: FilePiece[] = [];
    r.pieces.forEach((o, i) => {
      const p = todo[i]!;
      const path = Buffer.from(p.path).toString();
      lengths.get(path)!.push(...chunks.slice(k, k + o.chunks).map((c) => c.length));
      k += o.chunks;
      if (!o.eof) next.push({ ...p, offset: o.end });
    });
    todo = next;
    rounds++;
  }
  assert.ok(rounds >= 6);
  assert.deepEqual(lengths.get(pBig), chunkLengths(ctx.chunker, ctx.gear, big));
  assert.deepEqual(lengths.get(pOther), chunkLengths(ctx.chunker, ctx.gear, other));
});

test('a missing file is an outcome with an error, the rest of the batch is read', () => {
  const p = write('ok', Buffer.from('hello'));
  const arena = new Uint8Array(1 << 16);
  const r = readPieces(ctx, [piece(join(dir, 'nope')), piece(p)], arena);
  assert.match(r.pieces[0]!.error ?? '', /vanished/);
  assert.equal(r.pieces[1]!.chunks, 1);
  assert.equal(chunksOf(r, arena)[0]!.toString(), 'hello');
});

test('a file swapped since the scan is not read: another file, a symlink, a FIFO, or before a later segment', () => {
  const arena = new Uint8Array(1 << 16);
  const swapped = (name: string, swap: (p: string) => void) => {
    const p = write(name, Buffer.from('scanned content'));
    const scanned = piece(p);
    swap(p);
    return scanned;
  };
  const other = swapped('other', (p) => renameSync(write('elsewhere', Buffer.from('OTHER CONTENT')), p));
  const link = swapped('link', (p) => {
    rmSync(p);
    symlinkSync(write('target', Buffer.from('LINK TARGET')), p);
  });
  const fifo = swapped('fifo', (p) => {
    rmSync(p);
    execFileSync('mkfifo', [p]); // opening it for reading must not wait for a writer
  });
  const kept = piece(write('kept', Buffer.from('kept')));
  const r = readPieces(ctx, [other, link, fifo, kept], arena);
  assert.deepEqual(
    r.pieces.map((o) => o.error),
    [
      'replaced by another file since it was scanned',
      'replaced by a symbolic link since it was scanned',
      'replaced by another file since it was scanned',
      undefined,
    ],
  );
  assert.deepEqual(r.pieces.slice(0, 3).map((o) => o.chunks), [0, 0, 0], 'nothing of the swapped files was chunked');
  assert.equal(chunksOf(r, arena).map(String).join(), 'kept');

  // a big file read in segments: the first segment reads the scanned inode, the re-open does not
  const big = randomBytes(100_000);
  const pBig = write('big-swapped', big);
  const first = piece(pBig, 0, 30_000);
  const r1 = readPieces(ctx, [first], new Uint8Array(30_000 + ctx.chunker.max));
  assert.equal(r1.pieces[0]!.error, undefined);
  assert.equal(r1.pieces[0]!.eof, false);
  renameSync(write('big-other', randomBytes(100_000)), pBig);
  const r2 = readPieces(ctx, [{ ...first, offset: r1.pieces[0]!.end }], new Uint8Array(30_000 + ctx.chunker.max));
  assert.equal(r2.pieces[0]!.error, 'replaced by another file since it was scanned');
  assert.equal(r2.pieces[0]!.chunks, 0);
});

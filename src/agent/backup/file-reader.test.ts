import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

function piece(path: string, offset = 0, limit = Number.MAX_SAFE_INTEGER): FilePiece {
  return { path: Buffer.from(path), offset, limit };
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

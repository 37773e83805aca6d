// Changes ~1% of a tree's regular files, deterministically, for the after-modify backup phase:
// a 100-byte insert in the middle of the 3 largest files (what fixed-size chunking handles worst:
// content-defined chunking should store only a chunk or two per file), a 1 MiB append to the next
// 3, and rewrites of small files (<= 1 MiB, same size, new content) up to 1% of the file count.
//
//   node bench/modify-dataset.ts DIR [SEED]
//
// Symlinks are left alone and each inode is changed once (hard links share it). Same tree and
// SEED give the same changes. Big files are edited in place with bounded memory.
import fs from 'node:fs';
import path from 'node:path';
import { KeyStream, rankKey } from './random.ts';

const MiB = 1024 * 1024;
const SHIFT_BLOCK = 4 * MiB;
const INSERT_BYTES = 100;

interface FileInfo {
  abs: string;
  rel: string;
  size: number;
}

export interface ModifySummary {
  root: string;
  regularFiles: number;
  changedFiles: number;
  inserted: string[];
  appended: string[];
  rewritten: number;
  bytesWritten: number;
}

/** Regular files under root, one per inode, sorted by path bytes (independent of readdir order). */
function listRegularFiles(root: string): FileInfo[] {
  const files: FileInfo[] = [];
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) walk(abs);
      else if (st.isFile()) files.push({ abs, rel: path.relative(root, abs), size: st.size });
    }
  };
  walk(root);
  files.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
  return files.filter((f) => {
    const st = fs.statSync(f.abs);
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Inserts bytes at `at` by shifting the tail up from the end, block by block, in place. */
function insertInPlace(file: string, at: number, insert: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const block = Buffer.alloc(SHIFT_BLOCK);
    for (let end = size; end > at; ) {
      const start = Math.max(at, end - SHIFT_BLOCK);
      const n = fs.readSync(fd, block, 0, end - start, start);
      fs.writeSync(fd, block, 0, n, start + insert.length);
      end = start;
    }
    fs.writeSync(fd, insert, 0, insert.length, at);
  } finally {
    fs.closeSync(fd);
  }
}

function looksLikeText(sample: Buffer): boolean {
  return sample.every((c) => c === 9 || c === 10 || c === 13 || c >= 32);
}

/** New content of the same size: an edited copy for text (so it stays text), fresh bytes otherwise. */
function rewrittenContent(old: Buffer, seed: string, rel: string): Buffer {
  if (!looksLikeText(old.subarray(0, 1024))) return new KeyStream(seed, `rewrite:${rel}`).bytes(old.length);
  const edited = Buffer.from(old);
  const stamp = Buffer.from(`edited ${rankKey(seed, rel).slice(0, 16)}\n`);
  stamp.copy(edited, 0, 0, Math.min(stamp.length, edited.length));
  // Flip the case of every 50th letter: a typical editor session touches every line.
  for (let i = stamp.length; i < edited.length; i += 50) {
    const c = edited[i] ?? 0;
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) edited[i] = c ^ 0x20;
  }
  return edited;
}

export function modifyDataset(dir: string, seed: string): ModifySummary {
  const root = path.resolve(dir);
  const files = listRegularFiles(root);
  const bySize = [...files].sort(
    (a, b) => b.size - a.size || Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)),
  );
  const inserted = bySize.slice(0, 3);
  const appended = bySize.slice(3, 6);
  const target = Math.max(1, Math.round(files.length * 0.01));
  const taken = new Set([...inserted, ...appended].map((f) => f.rel));
  const rewritten = files
    .filter((f) => f.size > 0 && f.size <= MiB && !taken.has(f.rel))
    .map((f) => ({ f, key: rankKey(seed, `pick:${f.rel}`) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, Math.max(0, target - inserted.length - appended.length))
    .map((x) => x.f);

  let bytesWritten = 0;
  for (const f of inserted) {
    insertInPlace(f.abs, Math.floor(f.size / 2), new KeyStream(seed, `insert:${f.rel}`).bytes(INSERT_BYTES));
    bytesWritten += INSERT_BYTES;
  }
  for (const f of appended) {
    fs.appendFileSync(f.abs, new KeyStream(seed, `append:${f.rel}`).bytes(MiB));
    bytesWritten += MiB;
  }
  for (const f of rewritten) {
    const content = rewrittenContent(fs.readFileSync(f.abs), seed, f.rel);
    fs.writeFileSync(f.abs, content);
    bytesWritten += content.length;
  }
  return {
    root,
    regularFiles: files.length,
    changedFiles: inserted.length + appended.length + rewritten.length,
    inserted: inserted.map((f) => f.rel),
    appended: appended.map((f) => f.rel),
    rewritten: rewritten.length,
    bytesWritten,
  };
}

if (import.meta.main) {
  const [dir, seed] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: node bench/modify-dataset.ts DIR [SEED]\n');
    process.exit(2);
  }
  try {
    process.stdout.write(`${JSON.stringify(modifyDataset(dir, seed ?? 'modify-1'))}\n`);
  } catch (e) {
    process.stderr.write(`modify-dataset: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

// What a phase's "new bytes stored" is made of: the apparent size of every file and directory
// under a repository (what `du -sb` adds up), before and after, and the growth grouped by the
// path with content-addressed names collapsed (`packs/3a/3acf…` → `packs/*/*`), so Cairn's
// packs, refs lists, snapshot records and SQLite index with its WAL, and restic's data, index
// and snapshot files, each show as one line. It names what grew; `du -sb` stays the total.
import fs from 'node:fs';
import path from 'node:path';

/** Apparent sizes of everything under dir (itself included as "."), by relative path. */
export function storedSizes(dir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  const seen = new Set<string>(); // du counts a hard-linked inode once
  const visit = (rel: string): void => {
    const st = fs.lstatSync(path.join(dir, rel));
    const inode = `${st.dev}:${st.ino}`;
    if (seen.has(inode)) return;
    seen.add(inode);
    sizes.set(rel, st.size);
    if (st.isDirectory()) for (const name of fs.readdirSync(path.join(dir, rel))) visit(rel === '.' ? name : path.join(rel, name));
  };
  visit('.');
  return sizes;
}

/** A path's part: each hex name (two hex digits or more, any extension kept) becomes `*`. */
export function partOf(rel: string): string {
  return rel
    .split(path.sep)
    .map((c) => c.replace(/^[0-9a-f]{2,}(?=\.|$)/, '*'))
    .join('/');
}

/** Growth (or shrinkage) by part from `before` to `after`, parts that did not change left out. */
export function growthByPart(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const parts = new Map<string, number>();
  for (const rel of new Set([...before.keys(), ...after.keys()])) {
    const delta = (after.get(rel) ?? 0) - (before.get(rel) ?? 0);
    if (delta !== 0) parts.set(partOf(rel), (parts.get(partOf(rel)) ?? 0) + delta);
  }
  const changed = [...parts].filter(([, d]) => d !== 0).sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(changed);
}

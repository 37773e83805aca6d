// The parts (agent, storage, server, and the web console) may import core/, protocol/ and themselves only:
// this reads every import specifier under src/ and fails on a crossing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const SRC = path.resolve(import.meta.dirname, '../src');
const PARTS = ['agent', 'storage', 'server', 'web'];
const SHARED = ['core', 'protocol'];

function* tsFiles(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (/\.tsx?$/.test(e.name)) yield p;
  }
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|new URL\(\s*['"]([^'"]+)['"]/g)) {
    specs.push((m[1] ?? m[2] ?? m[3])!);
  }
  return specs;
}

test('parts import only core/, protocol/ and themselves', () => {
  const crossings: string[] = [];
  let checked = 0;
  for (const file of tsFiles(SRC)) {
    const top = path.relative(SRC, file).split(path.sep)[0]!;
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      checked++;
      const target = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
      if (target === '..' && file.endsWith('.test.ts')) continue; // unit tests may use test/support helpers
      const allowed = target === top || SHARED.includes(target);
      if (PARTS.includes(top) && !allowed) crossings.push(`${path.relative(SRC, file)} imports ${spec}`);
      if (SHARED.includes(top) && !SHARED.includes(target)) crossings.push(`${path.relative(SRC, file)} imports ${spec}`);
    }
  }
  assert.ok(checked > 0, 'found no relative imports at all: the scan is broken');
  assert.deepEqual(crossings, []);
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildConsole, consoleState } from './console-build.ts';

describe('building the web console', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-console-build-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const source = join(root, 'src');
  const dist = join(root, 'dist');

  it('builds a missing console, is fresh after, and stale once a source file is newer', async () => {
    mkdirSync(source);
    writeFileSync(join(source, 'index.html'), '<!doctype html><html><head><title>t</title></head><body><script type="module" src="./main.ts"></script></body></html>');
    writeFileSync(join(source, 'main.ts'), 'document.title = "built";\n');
    assert.match(consoleState(source, dist), /^missing: /);
    await buildConsole(source, dist);
    assert.equal(consoleState(source, dist), 'fresh');
    const html = readFileSync(join(dist, 'index.html'), 'utf8');
    assert.match(html, /<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(source, 'main.ts'), later, later);
    assert.match(consoleState(source, dist), /^stale: /);
    await buildConsole(source, dist);
    assert.equal(consoleState(source, dist), 'fresh');
  });

  it('keeps a build whose source is absent (an install that ships only the build)', () => {
    assert.equal(consoleState(join(root, 'no-source'), dist), 'fresh');
    assert.match(consoleState(join(root, 'no-source'), join(root, 'no-dist')), /^missing: /);
  });

  it('fails with a sentence naming the source when the source does not build, leaving the last build in place', async () => {
    writeFileSync(join(source, 'main.ts'), 'import "./missing-module.ts";\n');
    const before = readFileSync(join(dist, 'index.html'), 'utf8');
    await assert.rejects(buildConsole(source, dist), (e: Error) => e.message.startsWith(`cannot build the web console from ${source}: `));
    assert.equal(readFileSync(join(dist, 'index.html'), 'utf8'), before);
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONSOLE_CSP, consoleFiles } from './console-files.ts';

type Answer = { status: number; headers: IncomingHttpHeaders; body: string };

describe('the web console files', () => {
  const dist = mkdtempSync(join(tmpdir(), 'cairn-console-files-'));
  let base = '';
  const server = createServer();
  const get = (path: string, method = 'GET') =>
    new Promise<Answer>((resolve, reject) => {
      const req = request(`${base}${path}`, { method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  before(async () => {
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Cairn</title>');
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(dist, 'favicon.svg'), '<svg/>');
    writeFileSync(join(dist, '.built-from'), '1');
    server.on('request', consoleFiles(dist));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it('answers index.html with the CSP for the root and for every client route', async () => {
    for (const path of ['/', '/jobs', '/jobs/nightly%20one', '/jobs/web.v2', '/snapshots/abc?path=/etc']) {
      const a = await get(path);
      assert.equal(a.status, 200, path);
      assert.equal(a.body, '<!doctype html><title>Cairn</title>', path);
      assert.equal(a.headers['content-type'], 'text/html; charset=utf-8', path);
      assert.equal(a.headers['content-security-policy'], CONSOLE_CSP, path);
      assert.equal(a.headers['x-content-type-options'], 'nosniff', path);
      assert.equal(a.headers['cache-control'], 'no-cache', path);
    }
    assert.equal(CONSOLE_CSP, "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'");
  });

  it('serves hashed assets with their types and a year of caching, other files revalidated', async () => {
    const js = await get('/assets/index-abc123.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    assert.equal(js.headers['content-security-policy'], undefined);
    assert.equal((await get('/assets/index-abc123.css')).headers['content-type'], 'text/css; charset=utf-8');
    const icon = await get('/favicon.svg');
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    assert.equal(icon.headers['cache-control'], 'no-cache');
    const head = await get('/assets/index-abc123.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('answers 404 for a missing file, never index.html, and keeps dot files and parent paths out', async () => {
    for (const path of ['/assets/index-old.js', '/nope.txt', '/.built-from', '/assets/../.built-from']) {
      const a = await get(path);
      assert.equal(a.status, 404, path);
      assert.equal(JSON.parse(a.body).error.code, 'E_NOT_FOUND', path);
      assert.equal(a.headers['content-security-policy'], undefined, path);
    }
    // files are served from what was read at start, never from a path on disk
    assert.equal((await get('/%2e%2e/%2e%2e/etc/passwd')).body, '<!doctype html><title>Cairn</title>');
  });

  it('refuses methods other than GET and HEAD', async () => {
    const a = await get('/', 'POST');
    assert.equal(a.status, 405);
    assert.match(JSON.parse(a.body).error.message, /^POST is not allowed on \/$/);
  });
});

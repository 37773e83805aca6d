// What one client may hold of the backup server's REST port, on the real server process with its
// timeouts shortened (CAIRN_TEST_HTTP_*_MS; 10 s, 30 s and 60 s in production): headers sent
// slowly (a slow-loris) and a body that never ends are cut, an idle keep-alive connection is
// closed, an event stream stays open past all three, and the 101st connection from one address is
// closed while another address still connects.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { type Cluster, startCluster } from './support/cluster.ts';

const HEADERS_MS = 600;
const REQUEST_MS = 1200;
const KEEP_ALIVE_MS = 500;

describe('REST server connection limits', { concurrency: 1 }, () => {
  let c: Cluster;
  let login: { server: string; ca: string; token: string };
  let port: number;

  before(async () => {
    c = await startCluster({
      env: { CAIRN_TEST: '1', CAIRN_TEST_HTTP_HEADERS_MS: String(HEADERS_MS), CAIRN_TEST_HTTP_REQUEST_MS: String(REQUEST_MS), CAIRN_TEST_HTTP_KEEP_ALIVE_MS: String(KEEP_ALIVE_MS) },
    });
    login = JSON.parse(readFileSync(join(dirname(c.serverDir), 'cli.json'), 'utf8')) as typeof login;
    port = Number(new URL(login.server).port);
  });
  after(async () => {
    await c?.stop();
  });

  /** A TLS connection to the server (optionally from another local address), once the handshake is done. */
  function tls(localAddress?: string): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = connectTls({ host: '127.0.0.1', port, ca: login.ca, checkServerIdentity: () => undefined, ...(localAddress ? { localAddress } : {}) });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  }

  /** Resolves with ms until the socket closed, and what it received; rejects after `limitMs`. */
  function closedWithin(s: Socket, limitMs: number): Promise<{ ms: number; received: string }> {
    const started = Date.now();
    let received = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (received += d));
    s.on('error', () => undefined); // a reset is a close too
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms; received ${JSON.stringify(received)}`)), limitMs);
      s.once('close', () => {
        clearTimeout(timer);
        resolve({ ms: Date.now() - started, received });
      });
    });
  }

  it('cuts a client that sends its headers slowly (slow-loris) once the headers time out', async () => {
    const s = await tls();
    s.write('GET /api/openapi.json HTTP/1.1\r\nHost: cairn\r\n');
    // a header line every 100 ms: never idle, never done
    let n = 0;
    const drip = setInterval(() => s.writable && s.write(`X-Drip-${n++}: ${'x'.repeat(10)}\r\n`), 100);
    try {
      const { ms, received } = await closedWithin(s, HEADERS_MS * 6);
      assert.ok(ms >= HEADERS_MS * 0.8, `cut after ${ms} ms, before the headers timeout`);
      assert.match(received, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
  });

  it('cuts a request whose body does not arrive in time', async () => {
    const s = await tls();
    s.write(`POST /api/login HTTP/1.1\r\nHost: cairn\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user":`);
    const { ms, received } = await closedWithin(s, REQUEST_MS * 6);
    assert.ok(ms >= REQUEST_MS * 0.8, `cut after ${ms} ms, before the request timeout`);
    assert.match(received, /^HTTP\/1\.1 408/);
  });

  it('closes an idle keep-alive connection after its timeout', async () => {
    const s = await tls();
    s.write('GET /api/openapi.json HTTP/1.1\r\nHost: cairn\r\nConnection: keep-alive\r\n\r\n');
    const { received } = await closedWithin(s, KEEP_ALIVE_MS + 4000);
    assert.match(received, /^HTTP\/1\.1 200/, 'answered first, then closed as idle');
  });

  it('keeps an event stream open past the header, request and keep-alive timeouts', async () => {
    const s = await tls();
    let received = '';
    let closed = false;
    s.setEncoding('utf8').on('data', (d: string) => (received += d));
    s.once('close', () => (closed = true));
    s.write(`GET /api/events HTTP/1.1\r\nHost: cairn\r\nAuthorization: Bearer ${login.token}\r\nAccept: text/event-stream\r\n\r\n`);
    await new Promise((r) => setTimeout(r, (HEADERS_MS + REQUEST_MS + KEEP_ALIVE_MS) * 2));
    assert.equal(closed, false, `the stream was cut; received ${JSON.stringify(received)}`);
    assert.match(received, /^HTTP\/1\.1 200[^]*text\/event-stream[^]*: connected/);
    s.destroy();
  });

  it('closes the 101st connection from one address while another address still connects', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 100; i++) {
        const s = connectTcp({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      // the server counts on 'connection': give it the 100 before the next
      await new Promise((r) => setTimeout(r, 200));
      const extra = connectTcp({ host: '127.0.0.1', port });
      const { ms } = await closedWithin(extra, 3000);
      assert.ok(ms < 3000);
      for (const s of held) assert.equal(s.destroyed, false, 'the first 100 stay open');
      // another address is not limited by this one's connections: a whole request is answered
      const other = await tls('127.0.0.2');
      other.write('GET /api/openapi.json HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n\r\n');
      const { received } = await closedWithin(other, 5000);
      assert.match(received, /^HTTP\/1\.1 200/);
    } finally {
      for (const s of held) s.destroy();
    }
    // once they are gone, the address connects again
    await new Promise((r) => setTimeout(r, 300));
    const again = await tls();
    again.write('GET /api/openapi.json HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n\r\n');
    assert.match((await closedWithin(again, 5000)).received, /^HTTP\/1\.1 200/);
  });
});

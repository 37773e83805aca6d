import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createCertificateAuthority, createPartRequest, issuePartCertificate } from '../core/ca.ts';
import { CairnError } from '../core/errors.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import { certificateFingerprint, serverTlsOptions } from '../core/tls.ts';
import { ApiClient, apiErrorOf, fetchServerCa, normalizeServerUrl, withQuery } from './api-client.ts';

const isCode = (code: string) => (e: unknown) => e instanceof CairnError && e.code === code;

describe('api-client pure pieces', () => {
  it('reduces a server URL to its https origin and refuses others', () => {
    assert.equal(normalizeServerUrl('https://127.0.0.1:8443/'), 'https://127.0.0.1:8443');
    assert.equal(normalizeServerUrl('https://backup.example/api'), 'https://backup.example');
    assert.throws(() => normalizeServerUrl('http://127.0.0.1:8443'), isCode('E_USAGE'));
    assert.throws(() => normalizeServerUrl('127.0.0.1:8443'), isCode('E_USAGE'));
  });

  it('appends only the defined query parameters', () => {
    assert.equal(withQuery('/api/runs', {}), '/api/runs');
    assert.equal(withQuery('/api/runs', { job: 'home docs', limit: 5, agent: undefined }), '/api/runs?job=home+docs&limit=5');
  });

  it('turns an error answer back into its CairnError', () => {
    const e = apiErrorOf(404, JSON.stringify({ error: { code: 'E_NOT_FOUND', message: 'no job named x' } }), 'https://s');
    assert.equal(e.code, 'E_NOT_FOUND');
    assert.equal(e.message, 'no job named x');
    assert.equal(apiErrorOf(400, JSON.stringify({ error: { code: 'E_USAGE', message: 'm' } }), 'https://s').code, 'E_BAD_REQUEST');
    const unknown = apiErrorOf(418, JSON.stringify({ error: { code: 'E_TEAPOT', message: 'short and stout' } }), 'https://s');
    assert.equal(unknown.code, 'E_INTERNAL');
    assert.match(unknown.message, /HTTP 418: short and stout/);
    assert.match(apiErrorOf(502, '<html>bad gateway', 'https://s').message, /^the backup server at https:\/\/s answered HTTP 502: <html>bad gateway$/);
  });
});

describe('api-client over TLS', () => {
  let ca: Awaited<ReturnType<typeof createCertificateAuthority>>;
  const servers: Server[] = [];

  async function serve(cert: { keyPem: string; certPem: string }, caPem: string): Promise<string> {
    const server = createServer(serverTlsOptions(cert), (req, res) => {
      if (req.url === '/api/ca.pem') {
        res.end(caPem);
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/api/missing') {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'E_NOT_FOUND', message: 'no such thing' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization ?? null, body }));
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function leaf(authority: typeof ca, part: PartIdentity) {
    const req = await createPartRequest(part);
    return { keyPem: req.keyPem, certPem: await issuePartCertificate(authority, req.csrPem, { ...part, hosts: ['127.0.0.1'] }) };
  }

  before(async () => {
    ca = await createCertificateAuthority();
  });
  after(() => {
    for (const s of servers) s.close();
  });

  it('talks to the server its CA names cairn-server:server, with the bearer token', async () => {
    const url = await serve(await leaf(ca, { kind: 'server', name: 'server' }), ca.certPem);
    const client = new ApiClient({ server: url, ca: ca.certPem, token: 'sess-1' });
    try {
      const got = await client.post<{ method: string; url: string; auth: string; body: string }>('/api/things', { a: 1 });
      assert.deepEqual(got, { method: 'POST', url: '/api/things', auth: 'Bearer sess-1', body: '{"a":1}' });
      await assert.rejects(client.get('/api/missing'), (e: unknown) => isCode('E_NOT_FOUND')(e) && (e as Error).message === 'no such thing');
    } finally {
      client.close();
    }
  });

  it('refuses a peer from the same CA that is not the server, and one from another CA', async () => {
    const storageUrl = await serve(await leaf(ca, { kind: 'storage', name: 'server' }), ca.certPem);
    const c1 = new ApiClient({ server: storageUrl, ca: ca.certPem });
    await assert.rejects(c1.get('/api/health'), isCode('E_UNAUTHORIZED'));
    c1.close();
    const other = await createCertificateAuthority('Other CA');
    const otherUrl = await serve(await leaf(other, { kind: 'server', name: 'server' }), other.certPem);
    const c2 = new ApiClient({ server: otherUrl, ca: ca.certPem });
    await assert.rejects(c2.get('/api/health'), isCode('E_UNAUTHORIZED'));
    c2.close();
  });

  it('fetches the CA on a fingerprint (colons allowed) and refuses another fingerprint', async () => {
    const url = await serve(await leaf(ca, { kind: 'server', name: 'server' }), ca.certPem);
    const fp = certificateFingerprint(ca.certPem);
    const withColons = fp.toUpperCase().match(/../g)!.join(':');
    assert.equal(await fetchServerCa(url, withColons), ca.certPem);
    await assert.rejects(fetchServerCa(url, 'ab'.repeat(32)), isCode('E_UNAUTHORIZED'));
    await assert.rejects(fetchServerCa(url, 'not-hex'), isCode('E_USAGE'));
  });

  it('says the server cannot be reached when nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const client = new ApiClient({ server: `https://127.0.0.1:${port}`, ca: ca.certPem });
    await assert.rejects(
      client.get('/api/health'),
      (e: unknown) => isCode('E_UNAVAILABLE')(e) && (e as Error).message === `cannot reach the backup server at https://127.0.0.1:${port}`,
    );
  });
});

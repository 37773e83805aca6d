// The site certificate's TLS setup on a real TLS server: SNI picks the site's certificate or the
// Cairn leaf, and a renewed Cairn leaf is what parts get next, with or without a site certificate.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { test } from 'node:test';
import { generateSelfSignedIdentity } from '../core/certificates.ts';
import { PART_SERVERNAME, type TlsIdentity } from '../core/tls.ts';
import { loadWebIdentity, serverTls } from './web-cert.ts';

function subjectServed(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername, minVersion: 'TLSv1.3', rejectUnauthorized: false }, () => {
      const subject = new X509Certificate(s.getPeerCertificate().raw).subject;
      s.destroy();
      resolve(subject);
    });
    s.once('error', reject);
  });
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

test('SNI picks the site certificate for host names and the Cairn leaf for parts; a renewed leaf is served next', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-webcert-unit-'));
  const [ca, leaf1, leaf2, site] = await Promise.all(['Cairn CA', 'cairn-server:one', 'cairn-server:two', 'site.example'].map((n) => generateSelfSignedIdentity(n)));
  writeFileSync(join(dir, 'c.pem'), site!.certPem);
  writeFileSync(join(dir, 'k.pem'), site!.keyPem);
  const web = await loadWebIdentity({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') });
  for (const withSite of [true, false]) {
    const tls = serverTls(leaf1!, ca!.certPem, withSite ? web : undefined);
    const server = createServer(tls.options);
    const port = await listening(server);
    try {
      assert.equal(await subjectServed(port, 'site.example'), withSite ? 'CN=site.example' : 'CN=cairn-server:one');
      assert.equal(await subjectServed(port, PART_SERVERNAME), 'CN=cairn-server:one');
      assert.equal(await subjectServed(port, undefined), 'CN=cairn-server:one');
      server.setSecureContext(tls.renew(leaf2 as TlsIdentity));
      assert.equal(await subjectServed(port, PART_SERVERNAME), 'CN=cairn-server:two', `renewed (site certificate: ${withSite})`);
      assert.equal(await subjectServed(port, undefined), 'CN=cairn-server:two');
      if (withSite) assert.equal(await subjectServed(port, 'site.example'), 'CN=site.example');
    } finally {
      server.close();
    }
  }
});

test('refuses a certificate that is not valid now', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-webcert-unit-'));
  const site = await generateSelfSignedIdentity('site.example');
  writeFileSync(join(dir, 'c.pem'), site.certPem);
  writeFileSync(join(dir, 'k.pem'), site.keyPem);
  const files = { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') };
  await assert.rejects(loadWebIdentity(files, Date.now() + 20 * 365 * 86_400_000), { code: 'E_USAGE', message: /c\.pem is not valid now \(valid from .* to .*\)/ });
  assert.equal((await loadWebIdentity(files)).subject, 'CN=site.example');
});

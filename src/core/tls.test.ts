import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { CairnError } from './errors.ts';
import {
  certificateFingerprint,
  fetchPinnedCertificate,
  normalizeFingerprint,
  serverTlsOptions,
} from './tls.ts';
import { generateSelfSignedIdentity } from './certificates.ts';

describe('tls', () => {
  it('makes a P-256 self-signed certificate naming the loopback and the given host', async () => {
    const id = await generateSelfSignedIdentity('test', ['10.1.2.3', 'backup.example', '0.0.0.0']);
    const cert = new X509Certificate(id.certPem);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.checkIssued(cert));
    assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost, IP Address:10.1.2.3, DNS:backup.example');
    assert.match(certificateFingerprint(id.certPem), /^[0-9a-f]{64}$/);
    assert.equal(normalizeFingerprint(cert.fingerprint256), certificateFingerprint(id.certPem));
  });

  it('pins a server by fingerprint, and refuses another', async () => {
    const id = await generateSelfSignedIdentity('pinned');
    const server = createServer(serverTlsOptions(id)).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    try {
      assert.equal(
        certificateFingerprint(await fetchPinnedCertificate('127.0.0.1', port, certificateFingerprint(id.certPem))),
        certificateFingerprint(id.certPem),
      );
      await assert.rejects(
        fetchPinnedCertificate('127.0.0.1', port, '00'.repeat(32)),
        (e: unknown) => e instanceof CairnError && e.code === 'E_UNAUTHORIZED',
      );
    } finally {
      server.close();
    }
  });
});

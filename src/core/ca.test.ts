import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, createPartRequest, isIssuedByCa, issuePartCertificate, partIdentityOfCertificate } from './ca.ts';
import { isCairnError } from './errors.ts';

async function enrolled(ca: { keyPem: string; certPem: string }, kind: 'agent' | 'storage' | 'server', name: string, hosts?: string[]) {
  const req = await createPartRequest({ kind, name });
  return { keyPem: req.keyPem, certPem: await issuePartCertificate(ca, req.csrPem, { kind, name, hosts }) };
}

describe('ca', () => {
  it('creates a P-256 CA certificate that may sign leaves', async () => {
    const ca = await createCertificateAuthority();
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.checkIssued(cert) && cert.verify(cert.publicKey));
    const years = (cert.validToDate.getTime() - cert.validFromDate.getTime()) / (365 * 24 * 3600 * 1000);
    assert.ok(years > 9.9 && years < 10.1);
  });

  it('carries the CSR kind and name into a leaf that chains to the CA', async () => {
    const ca = await createCertificateAuthority();
    const agent = await enrolled(ca, 'agent', 'laptop-1');
    const leaf = new X509Certificate(agent.certPem);
    assert.equal(leaf.subject, 'CN=cairn-agent:laptop-1');
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.2']); // clientAuth only
    assert.equal(leaf.subjectAltName, undefined);
    assert.deepEqual(partIdentityOfCertificate(agent.certPem), { kind: 'agent', name: 'laptop-1' });
    assert.deepEqual(partIdentityOfCertificate(leaf.raw), { kind: 'agent', name: 'laptop-1' });
    assert.ok(isIssuedByCa(ca.certPem, agent.certPem));
    assert.ok(leaf.checkPrivateKey(createPrivateKey(agent.keyPem)));

    // a storage server serves TLS but is checked by the identity it names: hosts it asks for are not vouched for
    const storage = new X509Certificate((await enrolled(ca, 'storage', 'nas', ['nas.example', '10.0.0.6'])).certPem);
    assert.equal(storage.subjectAltName, undefined);
    assert.deepEqual([...(storage.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);

    const server = await enrolled(ca, 'server', 'main', ['backup.example', '10.0.0.5', '0.0.0.0']);
    const serverLeaf = new X509Certificate(server.certPem);
    assert.equal(serverLeaf.subjectAltName, 'DNS:backup.example, IP Address:10.0.0.5');
    assert.deepEqual([...(serverLeaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  });

  it('refuses a CSR naming another part than the one authorized, and a broken CSR', async () => {
    const ca = await createCertificateAuthority();
    const req = await createPartRequest({ kind: 'agent', name: 'laptop' });
    await assert.rejects(issuePartCertificate(ca, req.csrPem, { kind: 'server', name: 'laptop' }), (e) =>
      isCairnError(e, 'E_FORBIDDEN'),
    );
    await assert.rejects(issuePartCertificate(ca, req.csrPem, { kind: 'agent', name: 'desktop' }), (e) =>
      isCairnError(e, 'E_FORBIDDEN'),
    );
    await assert.rejects(issuePartCertificate(ca, 'garbage', { kind: 'agent', name: 'laptop' }), (e) =>
      isCairnError(e, 'E_BAD_REQUEST'),
    );
    await assert.rejects(createPartRequest({ kind: 'agent', name: 'a,CN=x' }), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  });

  it('does not chain a leaf from another CA, nor accept a foreign certificate as a part', async () => {
    const ca = await createCertificateAuthority();
    const other = await createCertificateAuthority('Other CA');
    const stranger = await enrolled(other, 'agent', 'laptop');
    assert.equal(isIssuedByCa(ca.certPem, stranger.certPem), false);
    assert.ok(isIssuedByCa(other.certPem, stranger.certPem));
    const mine = await enrolled(ca, 'agent', 'laptop');
    assert.equal(isIssuedByCa(ca.certPem, mine.certPem, new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000)), false);
    assert.throws(() => partIdentityOfCertificate(ca.certPem), (e) => isCairnError(e, 'E_UNAUTHORIZED'));
  });

  it('lets a TLS 1.3 server requiring client certificates accept our leaf and refuse another CA’s', async () => {
    const ca = await createCertificateAuthority();
    const storage = await enrolled(ca, 'storage', 'nas');
    const agent = await enrolled(ca, 'agent', 'laptop');
    const stranger = await enrolled(await createCertificateAuthority('Other CA'), 'agent', 'laptop');

    const refusals: Error[] = [];
    const accepted: string[] = [];
    const server = createServer({
      key: storage.keyPem,
      cert: storage.certPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const part = partIdentityOfCertificate(socket.getPeerCertificate().raw);
      accepted.push(part.name);
      socket.end(`hello ${part.kind}:${part.name}`);
    });
    // Node verifies the client chain after the TLS 1.3 handshake and drops the socket, so the
    // refusal shows as a client error on the server and a close without data on the client
    server.on('tlsClientError', (e) => refusals.push(e));
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;

    // resolves with what the server said, or with the error that ended the connection; the storage
    // server is checked by the part its certificate names, as agents do (it names no hosts)
    const talk = (id: { keyPem: string; certPem: string }) =>
      new Promise<string>((resolve) => {
        const checkServerIdentity = (_host: string, cert: { raw: Buffer }) =>
          partIdentityOfCertificate(cert.raw).name === 'nas' ? undefined : new Error('not the storage server nas');
        const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, key: id.keyPem, cert: id.certPem, minVersion: 'TLSv1.3', checkServerIdentity });
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (text += d));
        socket.on('error', (e) => resolve(`error: ${e.message}`));
        socket.on('close', () => resolve(text));
      });
    try {
      assert.equal(await talk(agent), 'hello agent:laptop');
      assert.equal(refusals.length, 0);
      const answer = await talk(stranger);
      assert.doesNotMatch(answer, /hello/);
      assert.equal(refusals.length, 1);
      assert.deepEqual(accepted, ['laptop']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

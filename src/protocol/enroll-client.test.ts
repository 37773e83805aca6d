// Enrollment from the part's side against a small https server in the test that serves
// /api/ca.pem and /api/enroll with a real CA, as the backup server does.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createCertificateAuthority,
  createPartRequest,
  isIssuedByCa,
  issuePartCertificate,
  partIdentityOfCertificate,
  type CertificateAuthority,
} from '../core/ca.ts';
import { CairnError, isCairnError } from '../core/errors.ts';
import type { PartKind } from '../core/part-identity.ts';
import { certificateFingerprint, serverTlsOptions, type TlsIdentity } from '../core/tls.ts';
import { enrollPart } from './enroll-client.ts';
import { createEnrollmentToken } from './enrollment-token.ts';

const GRANT_KEY = '-----BEGIN PUBLIC KEY-----\ngrant key of the test server\n-----END PUBLIC KEY-----\n';

type EnrollBody = { token: string; name: string; csr: string; publicKey?: string; hosts?: string[]; version: string };

/** The two routes of the backup server that enrollment uses; `caPem` is what it hands out as its CA. */
async function enrollServer(ca: CertificateAuthority, tls: TlsIdentity, caPem = ca.certPem) {
  const requests: string[] = [];
  const bodies: EnrollBody[] = [];
  const server: Server = createServer(serverTlsOptions(tls), (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'GET' && req.url === '/api/ca.pem') return res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(caPem);
    if (req.method !== 'POST' || req.url !== '/api/enroll') return res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as EnrollBody;
      bodies.push(body);
      const answer = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (body.name === 'taken') return answer(409, { error: { code: 'E_CONFLICT', message: 'an agent named taken is enrolled already' } });
      const certificate = await issuePartCertificate(ca, body.csr, { kind: 'agent', name: body.name });
      answer(200, { certificate, ca: ca.certPem, grantPublicKey: GRANT_KEY });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, bodies };
}

describe('enrollPart', () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let good: Awaited<ReturnType<typeof enrollServer>>;

  async function serverLeaf(issuer: CertificateAuthority): Promise<TlsIdentity> {
    const req = await createPartRequest({ kind: 'server', name: 'server' });
    return { keyPem: req.keyPem, certPem: await issuePartCertificate(issuer, req.csrPem, { kind: 'server', name: 'server', hosts: ['127.0.0.1'] }) };
  }

  function token(o: { kind?: PartKind; server?: string; caPem?: string; ttlMs?: number; now?: number } = {}): string {
    return createEnrollmentToken(
      {
        kind: o.kind ?? 'agent',
        id: 'a1',
        server: o.server ?? good.url,
        caFingerprint: certificateFingerprint(o.caPem ?? ca.certPem),
        ttlMs: o.ttlMs ?? 3_600_000,
      },
      o.now,
    ).token;
  }

  before(async () => {
    ca = await createCertificateAuthority('Test CA');
    otherCa = await createCertificateAuthority('Other CA');
    good = await enrollServer(ca, await serverLeaf(ca));
  });
  after(() => good.server.close());

  it('pins the CA by the token, sends the CSR and returns a certificate for this part and key', async () => {
    const enrolled = await enrollPart({ token: token(), kind: 'agent', name: 'a1', publicKeyPem: 'agent ecdh key', version: '0.1.0' });
    assert.equal(enrolled.server, good.url);
    assert.equal(certificateFingerprint(enrolled.caPem), certificateFingerprint(ca.certPem));
    assert.equal(enrolled.grantPublicKeyPem, GRANT_KEY);
    assert.deepEqual(partIdentityOfCertificate(enrolled.certPem), { kind: 'agent', name: 'a1' });
    assert.ok(isIssuedByCa(ca.certPem, enrolled.certPem));
    assert.ok(new X509Certificate(enrolled.certPem).checkPrivateKey(createPrivateKey(enrolled.keyPem)));
    const body = good.bodies.at(-1)!;
    assert.equal(body.name, 'a1');
    assert.equal(body.publicKey, 'agent ecdh key');
    assert.equal(body.version, '0.1.0');
    assert.equal(body.hosts, undefined);
    assert.match(body.token, /^cairn1\./);
  });

  it('passes the server error on with its code and message', async () => {
    await assert.rejects(
      enrollPart({ token: token(), kind: 'agent', name: 'taken', version: '0.1.0' }),
      (e) => isCairnError(e, 'E_CONFLICT') && e.message === 'an agent named taken is enrolled already',
    );
  });

  it('refuses a server whose CA is not the one in the token, before sending anything', async () => {
    const before = good.bodies.length;
    await assert.rejects(
      enrollPart({ token: token({ caPem: otherCa.certPem }), kind: 'agent', name: 'a1', version: '0.1.0' }),
      (e) => isCairnError(e, 'E_UNAUTHORIZED') && e.message === 'server CA does not match the token',
    );
    assert.equal(good.bodies.length, before);
  });

  it('trusts only the pinned certificate when the server hands out more than one', async () => {
    // a man in the middle serves the genuine CA with its own appended, and its own TLS certificate
    const mitm = await enrollServer(otherCa, await serverLeaf(otherCa), ca.certPem + otherCa.certPem);
    try {
      await assert.rejects(
        enrollPart({ token: token({ server: mitm.url }), kind: 'agent', name: 'a1', version: '0.1.0' }),
        (e) => isCairnError(e, 'E_UNAUTHORIZED') && /not from the token's CA/.test(e.message),
      );
      assert.deepEqual(mitm.requests, ['GET /api/ca.pem']);
    } finally {
      mitm.server.close();
    }
  });

  it('refuses a token for another kind of part, and an expired one, without contacting the server', async () => {
    const before = good.requests.length;
    await assert.rejects(
      enrollPart({ token: token({ kind: 'storage' }), kind: 'agent', name: 'a1', version: '0.1.0' }),
      (e) => e instanceof CairnError && e.code === 'E_BAD_REQUEST' && /token is for a storage server, not an agent/.test(e.message),
    );
    await assert.rejects(
      enrollPart({ token: token({ now: Date.now() - 7_200_000 }), kind: 'agent', name: 'a1', version: '0.1.0' }),
      (e) => isCairnError(e, 'E_UNAUTHORIZED') && /expired/.test(e.message),
    );
    assert.equal(good.requests.length, before);
  });
});

// A backup server's trust material made in-process for tests of parts: a CA, certificates issued
// to named parts from real CSRs (core/ca.ts), the grant-signing key pair, signed grants, and
// mutual-TLS requests presenting a part's certificate.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { type CertificateAuthority, createCertificateAuthority, createPartRequest, issuePartCertificate } from '../../src/core/ca.ts';
import type { PartIdentity } from '../../src/core/part-identity.ts';
import { certificateFingerprint, partTlsOptions, type TlsIdentity } from '../../src/core/tls.ts';
import { type Grant, signGrant } from '../../src/protocol/grant.ts';

/**
 * The environment of a server-mode storage server with no backup server behind it: it serves with
 * its saved revoked list at once instead of waiting for the server's (storage/revocations.ts).
 */
export const NO_BACKUP_SERVER_ENV = { CAIRN_TEST: '1', CAIRN_TEST_REVOKED_LIST_WAIT_MS: '0' };

export type TestAuthority = {
  ca: CertificateAuthority;
  /** PEM of the grant-signing key pair */
  grantKey: { privatePem: string; publicPem: string };
  /** a certificate and key for `part`, issued by this CA */
  issue: (part: PartIdentity, hosts?: string[]) => Promise<TlsIdentity>;
  /** a grant signed with this authority's grant key; exp defaults to an hour from now, cert to the fingerprint of the last certificate issued to that agent */
  grant: (g: Omit<Grant, 'exp' | 'run' | 'cert'> & { exp?: number; run?: string; cert?: string }) => string;
};

export async function testAuthority(): Promise<TestAuthority> {
  const ca = await createCertificateAuthority('Cairn test CA');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const grantKey = {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
  const issued = new Map<string, string>();
  return {
    ca,
    grantKey,
    issue: async (part, hosts) => {
      const { keyPem, csrPem } = await createPartRequest(part);
      const certPem = await issuePartCertificate(ca, csrPem, { ...part, hosts });
      if (part.kind === 'agent') issued.set(part.name, certificateFingerprint(certPem));
      return { keyPem, certPem };
    },
    grant: (g) =>
      signGrant(grantKey.privatePem, { ...g, cert: g.cert ?? issued.get(g.agent) ?? '0'.repeat(64), run: g.run ?? 'run-1', exp: g.exp ?? Date.now() + 3600_000 }),
  };
}

export type MtlsRequest = {
  port: number;
  method: string;
  path: string;
  /** trust for the server's certificate, and the part it must be */
  ca: string;
  expect: PartIdentity;
  /** the client certificate to present, or none */
  identity?: TlsIdentity;
  headers?: Record<string, string>;
  body?: Buffer | string;
};

/** One request on a fresh connection (no session reuse): status and body text. */
export function mtlsRequest(r: MtlsRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...partTlsOptions({ ca: r.ca, expect: r.expect, identity: r.identity }),
        host: '127.0.0.1',
        port: r.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

/**
 * A storage data folder as enrollment leaves it (docs/control-plane.md "Data folders"), for
 * starting a server-mode storage server without a backup server. `server` is where its control
 * link dials (nothing need answer there).
 */
export async function writeEnrolledStorage(
  dataDir: string,
  authority: TestAuthority,
  o: { name: string; listen?: string; server?: string },
): Promise<TlsIdentity> {
  const identity = await authority.issue({ kind: 'storage', name: o.name }, ['127.0.0.1']);
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'key.pem'), identity.keyPem, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'cert.pem'), identity.certPem);
  writeFileSync(join(dataDir, 'ca.pem'), authority.ca.certPem);
  writeFileSync(join(dataDir, 'grant-key.pub.pem'), authority.grantKey.publicPem);
  const settings = { name: o.name, listen: o.listen ?? '127.0.0.1:0', mode: 'server', server: o.server ?? 'https://127.0.0.1:9' };
  writeFileSync(join(dataDir, 'storage.json'), `${JSON.stringify(settings, null, 2)}\n`);
  return identity;
}

// Certificate generation (ECDSA P-256, self-signed for now; the backup server's CA comes next).
// Kept apart from tls.ts because @peculiar/x509 costs ~0.4 s to load, and only a daemon's first
// start needs it, never a client.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { isWildcard } from './listen.ts';
import type { TlsIdentity } from './tls.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * The subject alternative names for `hosts` (brackets dropped, each once): IPs as IP names,
 * anything else as DNS names; wildcard binds such as 0.0.0.0 are no names and are skipped.
 */
export function subjectAltNames(hosts: string[]): x509.JsonGeneralName[] {
  const names = new Map<string, x509.JsonGeneralName>();
  for (const host of hosts) {
    const bare = host.replace(/^\[|\]$/g, '');
    if (bare === '' || isWildcard(bare)) continue;
    names.set(bare, { type: isIP(bare) ? 'ip' : 'dns', value: bare });
  }
  return [...names.values()];
}

/**
 * A fresh key pair and a self-signed certificate naming 127.0.0.1, localhost and `hosts`
 * (IPs become IP SANs, anything else a DNS SAN; wildcard binds such as 0.0.0.0 are skipped).
 */
export async function generateSelfSignedIdentity(commonName: string, hosts: string[] = []): Promise<TlsIdentity> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000); // tolerate small clock skew between hosts
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto.getRandomValues(new Uint8Array(16)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '01'),
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 10 * 365 * 24 * 3600 * 1000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(['127.0.0.1', 'localhost', ...hosts])),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return { keyPem: `${keyPem}\n`, certPem: `${cert.toString('pem')}\n` };
}

// TLS identities and pinning: self-signed ECDSA P-256 certificates, their SHA-256 fingerprint,
// and the options every Cairn TLS endpoint uses (TLS 1.3 only, trust pinned to one CA or one
// certificate fingerprint, never the system roots).
import 'reflect-metadata';
import { createHash, X509Certificate, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { connect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { CairnError } from './errors.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const TLS_MIN_VERSION = 'TLSv1.3' as const;

export type TlsIdentity = { keyPem: string; certPem: string };

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * A fresh key pair and a self-signed certificate naming 127.0.0.1, localhost and `hosts`
 * (IPs become IP SANs, anything else a DNS SAN; wildcard binds such as 0.0.0.0 are skipped).
 */
export async function generateSelfSignedIdentity(commonName: string, hosts: string[] = []): Promise<TlsIdentity> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const names = new Map<string, x509.JsonGeneralName>();
  for (const host of ['127.0.0.1', 'localhost', ...hosts]) {
    const bare = host.replace(/^\[|\]$/g, '');
    if (bare === '' || bare === '0.0.0.0' || bare === '::') continue;
    names.set(bare, { type: isIP(bare) ? 'ip' : 'dns', value: bare });
  }
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
      new x509.SubjectAlternativeNameExtension([...names.values()]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return { keyPem: `${keyPem}\n`, certPem: `${cert.toString('pem')}\n` };
}

/** Hex SHA-256 of the certificate's DER encoding (lowercase, no colons). */
export function certificateFingerprint(certPem: string | Buffer): string {
  let der: Buffer;
  try {
    der = new X509Certificate(certPem).raw;
  } catch (e) {
    throw new CairnError('E_BAD_REQUEST', 'not a PEM certificate', { cause: e });
  }
  return createHash('sha256').update(der).digest('hex');
}

/** Normalizes a fingerprint as people paste it (colons, upper case) and checks its shape. */
export function normalizeFingerprint(text: string): string {
  const hex = text.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CairnError('E_BAD_REQUEST', `not a SHA-256 fingerprint: ${text}`);
  return hex;
}

/** Options for an https/tls server with this identity. */
export function serverTlsOptions(identity: TlsIdentity) {
  return { key: identity.keyPem, cert: identity.certPem, minVersion: TLS_MIN_VERSION, maxVersion: TLS_MIN_VERSION };
}

function fingerprintOf(cert: PeerCertificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/**
 * Client options trusting only `ca` (PEM). With `fingerprint` the peer's certificate must also
 * have exactly that fingerprint, and the host name is not checked (the pin is stronger).
 * Node calls checkServerIdentity only after the chain verified against `ca`, so nothing is sent
 * to a server that fails either check.
 */
export function clientTlsOptions(pin: { ca: string; fingerprint?: string }): ConnectionOptions {
  const fingerprint = pin.fingerprint === undefined ? undefined : normalizeFingerprint(pin.fingerprint);
  const options: ConnectionOptions = {
    ca: pin.ca,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MIN_VERSION,
    rejectUnauthorized: true,
  };
  if (fingerprint !== undefined) {
    options.checkServerIdentity = (_host, cert) =>
      fingerprintOf(cert) === fingerprint
        ? undefined
        : new CairnError('E_UNAUTHORIZED', `server certificate fingerprint ${fingerprintOf(cert)} is not the pinned one`);
  }
  return options;
}

/**
 * Trust on a fingerprint alone: fetches the server's certificate over a handshake that sends
 * no data, checks its fingerprint, and returns its PEM to use as the pinned CA from then on.
 */
export function fetchPinnedCertificate(host: string, port: number, fingerprint: string): Promise<string> {
  const want = normalizeFingerprint(fingerprint);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      minVersion: TLS_MIN_VERSION,
      rejectUnauthorized: false, // checked below, before anything is written
    });
    socket.setTimeout(15_000, () => socket.destroy(new CairnError('E_UNAVAILABLE', `TLS handshake with ${host}:${port} timed out`)));
    socket.once('error', (e) => reject(new CairnError('E_UNAVAILABLE', `cannot reach ${host}:${port}: ${e.message}`, { cause: e })));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(false);
      socket.destroy();
      if (!cert?.raw) return reject(new CairnError('E_UNAUTHORIZED', `${host}:${port} presented no certificate`));
      const got = fingerprintOf(cert);
      if (got !== want) {
        return reject(new CairnError('E_UNAUTHORIZED', `server certificate fingerprint ${got} is not the pinned ${want}`));
      }
      resolve(new X509Certificate(cert.raw).toString());
    });
  });
}

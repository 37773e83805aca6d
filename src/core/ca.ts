// The backup server's certificate authority: create the CA (ECDSA P-256, since browsers refuse
// Ed25519), issue a part's certificate from its CSR, make a part's key and CSR, and on a mutual
// TLS connection read which part the peer is and whether its certificate chains to the CA.
// Pure functions over PEM strings; storing keys and enrolling parts belong to the server.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CERT_SKEW_MS, certLifetimeMs } from './cert-life.ts';
import { subjectAltNames } from './certificates.ts';
import { CairnError } from './errors.ts';
import { type PartIdentity, parsePartCommonName, partCommonName } from './part-identity.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CertificateAuthority = { keyPem: string; certPem: string };
export type PartRequest = { keyPem: string; csrPem: string };

type PeculiarKeys = x509.X509CertificateCreateSelfSignedParams['keys'];
type PeculiarKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600 * 1000;
const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
const SKEW_MS = CERT_SKEW_MS; // certificates start a minute early so a slightly slow peer clock accepts them

function randomSerial(): string {
  // leading 01 keeps the DER integer positive and 17 bytes long
  return Buffer.concat([Buffer.from([1]), webcrypto.getRandomValues(new Uint8Array(16))]).toString('hex');
}

async function newKeyPair(): Promise<{ keys: PeculiarKeys; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys: keys as unknown as PeculiarKeys, keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n` };
}

/** A new CA: a P-256 key and a self-signed certificate valid for ten years. */
export async function createCertificateAuthority(
  commonName = 'Cairn CA',
  now = new Date(),
): Promise<CertificateAuthority> {
  const { keys, keyPem } = await newKeyPair();
  const notBefore = new Date(now.getTime() - SKEW_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + CA_LIFETIME_MS),
    signingAlgorithm: ECDSA_SHA256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true), // signs leaves only, never another CA
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem, certPem: `${cert.toString('pem')}\n` };
}

/** A part's new key and its CSR naming `cairn-<kind>:<name>`; the key never leaves the part. */
export async function createPartRequest(part: PartIdentity): Promise<PartRequest> {
  const cn = partCommonName(part);
  const { keys, keyPem } = await newKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`,
    keys,
    signingAlgorithm: ECDSA_SHA256,
  });
  return { keyPem, csrPem: `${csr.toString('pem')}\n` };
}

/** `lifetimeMs`: from `now` to expiry, default certLifetimeMs() (365 days); `hosts`: the server leaf's names (ignored for parts) */
export type IssueOptions = PartIdentity & { hosts?: string[]; now?: Date; lifetimeMs?: number };

/**
 * The CA's certificate for the part that sent `csrPem`. The CSR must be signed by its own key
 * (proof of possession), hold a P-256 key, and name exactly the part the caller authorized
 * (from the enrollment token): a CSR cannot choose its own identity. Agents get clientAuth;
 * storage servers and the backup server also serve TLS, so they get serverAuth. Only the backup
 * server's own leaf names `hosts` (consoles check it by host name): a part is checked by the
 * identity its certificate names (tls.ts partTlsOptions), so a part's certificate carries no DNS
 * or IP names, and one that a storage server asked for is not vouched for by the CA.
 */
export async function issuePartCertificate(
  ca: CertificateAuthority,
  csrPem: string,
  options: IssueOptions,
): Promise<string> {
  const expected = partCommonName(options);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw new CairnError('E_BAD_REQUEST', 'not a PEM certificate request', { cause: e });
  }
  if (!(await csr.verify())) throw new CairnError('E_BAD_REQUEST', 'certificate request signature does not verify');
  const spki = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  if (spki.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new CairnError('E_BAD_REQUEST', 'certificate request key must be ECDSA P-256');
  if (csr.subject !== `CN=${expected}`)
    throw new CairnError('E_FORBIDDEN', `certificate request names ${csr.subject}, expected CN=${expected}`);

  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = createPrivateKey(ca.keyPem).toCryptoKey(EC_P256, false, ['sign']) as unknown as PeculiarKey;
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - SKEW_MS);
  // a leaf never outlives its CA: peers would refuse it after the CA expires anyway
  const lifetime = options.lifetimeMs ?? certLifetimeMs();
  const notAfter = new Date(Math.min(now.getTime() + lifetime, caCert.notAfter.getTime()));
  const serves = options.kind !== 'agent';
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      serves ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth],
    ),
    await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  const sans = options.kind === 'server' ? subjectAltNames(options.hosts ?? []) : [];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${expected}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA_SHA256,
    publicKey: csr.publicKey,
    signingKey,
    extensions,
  });
  return `${cert.toString('pem')}\n`;
}

/** The DER SubjectPublicKeyInfo a CSR asks a certificate for (E_BAD_REQUEST when it is no CSR). */
export function csrPublicKeyDer(csrPem: string): Buffer {
  try {
    return Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
  } catch (e) {
    throw new CairnError('E_BAD_REQUEST', 'not a PEM certificate request', { cause: e });
  }
}

function toX509(cert: string | Buffer | X509Certificate): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  try {
    return new X509Certificate(cert);
  } catch (e) {
    throw new CairnError('E_UNAUTHORIZED', 'not a certificate', { cause: e });
  }
}

/**
 * The part a certificate names (pass a peer's `getPeerCertificate().raw`, a PEM, or an
 * X509Certificate). Only meaningful after the chain was checked (by TLS or `isIssuedByCa`).
 */
export function partIdentityOfCertificate(cert: string | Buffer | X509Certificate): PartIdentity {
  const subject = toX509(cert).subject.split('\n');
  const part = subject.length === 1 && subject[0]!.startsWith('CN=') ? parsePartCommonName(subject[0]!.slice(3)) : undefined;
  if (!part) throw new CairnError('E_UNAUTHORIZED', 'peer certificate does not name a Cairn part');
  return part;
}

/** True when `cert` was signed by the CA in `caCertPem` and is valid at `now`. */
export function isIssuedByCa(caCertPem: string, cert: string | Buffer | X509Certificate, now = new Date()): boolean {
  const ca = toX509(caCertPem);
  const leaf = toX509(cert);
  return (
    leaf.checkIssued(ca) &&
    leaf.verify(ca.publicKey) &&
    leaf.validFromDate.getTime() <= now.getTime() &&
    now.getTime() <= leaf.validToDate.getTime()
  );
}

// A part's first contact with the backup server (docs/control-plane.md "Enrollment"): from the
// pasted token it learns the server and the CA's fingerprint, fetches the CA certificate over a
// connection it does not trust yet and pins it by that fingerprint, then sends its CSR over TLS
// trusting only that CA and gets back its certificate. The caller stores the files.
import { createPrivateKey, createSign, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { createPartRequest, isIssuedByCa, partIdentityOfCertificate } from '../core/ca.ts';
import { CairnError } from '../core/errors.ts';
import { partCommonName, type PartIdentity } from '../core/part-identity.ts';
import { certificateFingerprint, partTlsOptions, TLS_MIN_VERSION, type TlsIdentity } from '../core/tls.ts';
import { errorFromInfo } from './control-rpc.ts';
import { assertTokenUnexpired, parseEnrollmentToken, reenrollSigned } from './enrollment-token.ts';

export type Enrolled = { server: string; keyPem: string; certPem: string; caPem: string; grantPublicKeyPem: string };

const SERVER_IDENTITY: PartIdentity = { kind: 'server', name: 'server' };
const KIND_NAMES = { agent: 'an agent', storage: 'a storage server', server: 'the backup server' } as const;
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_ANSWER_BYTES = 256 * 1024;

type Answer = { status: number; body: string };

/** One https request with a bounded answer; network failures become E_UNAVAILABLE. */
function exchange(url: URL, tls: object, method: 'GET' | 'POST', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json, application/x-pem-file' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = request(url, { ...tls, method, headers, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) return req.destroy(new CairnError('E_TOO_LARGE', `${url.pathname}: answer larger than ${MAX_ANSWER_BYTES} bytes`));
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(e));
    });
    req.on('timeout', () => req.destroy(new CairnError('E_UNAVAILABLE', `${url.origin}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof CairnError) return reject(e);
      // OpenSSL's verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, …): reached, but not trusted
      if (typeof e.code === 'string' && /CERT|SIGNATURE|ISSUER/.test(e.code))
        return reject(new CairnError('E_UNAUTHORIZED', `${url.origin}: the server's certificate is not from the token's CA (${e.message})`, { cause: e }));
      reject(new CairnError('E_UNAVAILABLE', `cannot reach ${url.origin}: ${e.message}`, { cause: e }));
    });
    req.end(body);
  });
}

/** The server's {error:{code,message}} as a CairnError, or a sentence about the status when the body is not one. */
function serverError(answer: Answer, what: string): CairnError {
  try {
    const e = (JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') return errorFromInfo({ code: e.code, message: e.message });
  } catch {
    // not JSON: fall through to the status line
  }
  return new CairnError(answer.status >= 500 ? 'E_UNAVAILABLE' : 'E_INTERNAL', `${what}: server answered HTTP ${answer.status}`);
}

/**
 * The CA certificate the server hands out, accepted only when its fingerprint is the token's.
 * Only the first certificate is kept: extra ones in the answer would otherwise be trusted too.
 */
async function fetchPinnedCa(server: string, caFingerprint: string): Promise<string> {
  // not trusted on purpose: the fingerprint check below is the trust
  const answer = await exchange(new URL('/api/ca.pem', server), { minVersion: TLS_MIN_VERSION, rejectUnauthorized: false }, 'GET');
  if (answer.status !== 200) throw serverError(answer, 'GET /api/ca.pem');
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(answer.body);
  } catch {
    throw new CairnError('E_UNAUTHORIZED', 'server CA does not match the token (the server sent no certificate)');
  }
  const caPem = ca.toString();
  if (certificateFingerprint(caPem) !== caFingerprint) throw new CairnError('E_UNAUTHORIZED', 'server CA does not match the token');
  return caPem;
}

/**
 * Enrolls this part with the server named in `token`: pins the server's CA by the token's
 * fingerprint, sends a fresh key's CSR for `cairn-<kind>:<name>` and returns the issued files.
 */
export async function enrollPart(o: {
  token: string;
  kind: 'agent' | 'storage';
  name: string;
  publicKeyPem?: string;
  hosts?: string[];
  version: string;
  /** the server's URL as this part reaches it (--server); default the one in the token */
  server?: string;
  /** re-enrollment: the identity this part was enrolled with (expired), whose key signs the request */
  previous?: TlsIdentity;
}): Promise<Enrolled> {
  const token = parseEnrollmentToken(o.token);
  const server = o.server ?? token.server;
  if (token.kind !== o.kind)
    throw new CairnError('E_BAD_REQUEST', `this enrollment token is for ${KIND_NAMES[token.kind]}, not ${KIND_NAMES[o.kind]}`);
  assertTokenUnexpired(token);
  const self: PartIdentity = { kind: o.kind, name: o.name };
  partCommonName(self); // checks the name before anything goes on the wire

  const caPem = await fetchPinnedCa(server, token.caFingerprint);
  const { keyPem, csrPem } = await createPartRequest(self);
  const body = JSON.stringify({
    token: o.token.trim(),
    name: o.name,
    csr: csrPem,
    ...(o.publicKeyPem !== undefined ? { publicKey: o.publicKeyPem } : {}),
    ...(o.hosts !== undefined ? { hosts: o.hosts } : {}),
    version: o.version,
    ...(o.previous !== undefined
      ? { previous: { certificate: o.previous.certPem, signature: createSign('sha256').update(reenrollSigned(csrPem)).sign(o.previous.keyPem, 'base64') } }
      : {}),
  });
  const answer = await exchange(new URL('/api/enroll', server), partTlsOptions({ ca: caPem, expect: SERVER_IDENTITY }), 'POST', body);
  if (answer.status < 200 || answer.status >= 300) throw serverError(answer, 'POST /api/enroll');

  let reply: { certificate?: unknown; grantPublicKey?: unknown };
  try {
    reply = JSON.parse(answer.body) as typeof reply;
  } catch {
    throw new CairnError('E_INTERNAL', 'POST /api/enroll: answer is not JSON');
  }
  if (typeof reply.certificate !== 'string' || typeof reply.grantPublicKey !== 'string')
    throw new CairnError('E_INTERNAL', 'POST /api/enroll: answer lacks certificate or grantPublicKey');
  checkIssued(reply.certificate, keyPem, caPem, self);
  return { server, keyPem, certPem: reply.certificate, caPem, grantPublicKeyPem: reply.grantPublicKey };
}

/**
 * The certificate a renewal already issued for `csrPem`, when its answer over the control channel
 * was lost and the server now refuses `identity` (the previous certificate) there:
 * POST /api/renewed, presenting `identity`.
 */
export async function fetchRenewedCertificate(server: string, caPem: string, identity: TlsIdentity, csrPem: string): Promise<string> {
  const tls = partTlsOptions({ ca: caPem, expect: SERVER_IDENTITY, identity });
  const answer = await exchange(new URL('/api/renewed', server), tls, 'POST', JSON.stringify({ csr: csrPem }));
  if (answer.status < 200 || answer.status >= 300) throw serverError(answer, 'POST /api/renewed');
  const certificate = (JSON.parse(answer.body) as { certificate?: unknown }).certificate;
  if (typeof certificate !== 'string') throw new CairnError('E_INTERNAL', 'POST /api/renewed: answer lacks certificate');
  return certificate;
}

/** A certificate this part could not use is refused now, not at its first mutual TLS handshake. */
export function checkIssued(certPem: string, keyPem: string, caPem: string, self: PartIdentity, what = 'POST /api/enroll'): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new CairnError('E_INTERNAL', `${what}: the certificate is not PEM`);
  }
  const named = partIdentityOfCertificate(cert);
  if (!isIssuedByCa(caPem, cert) || !cert.checkPrivateKey(createPrivateKey(keyPem)) || partCommonName(named) !== partCommonName(self))
    throw new CairnError('E_INTERNAL', `${what}: the certificate is not the CA's for ${partCommonName(self)} and this key`);
}

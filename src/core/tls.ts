// TLS pinning: a certificate's SHA-256 fingerprint and the options every Cairn TLS endpoint uses (TLS 1.3 only, trust pinned to one CA or one
// certificate fingerprint, never the system roots), and mutual TLS between Cairn parts: whom a client expects, and which part a
// server's peer is.
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionOptions, PeerCertificate, TLSSocket } from 'node:tls';
import { connect } from 'node:tls';
import { CairnError } from './errors.ts';
import { type PartIdentity, parsePartCommonName, partCommonName } from './part-identity.ts';

export const TLS_MIN_VERSION = 'TLSv1.3' as const;

export type TlsIdentity = { keyPem: string; certPem: string };

/**
 * The server name (SNI) every Cairn client sends the backup server, whatever its URL: a server
 * with a site certificate for browsers (`--web-cert`) answers it with the leaf of the pinned CA.
 * `.invalid` is reserved (RFC 2606), so no real host can be named so.
 */
export const PART_SERVERNAME = 'parts.cairn.invalid';

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
  return {
    key: identity.keyPem,
    cert: identity.certPem,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MIN_VERSION,
    // AES-128-GCM first: as safe here and ~30% cheaper per byte than AES-256 on the bulk data plane
    ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
    honorCipherOrder: true,
  };
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

/**
 * Client options for reaching a Cairn part (or the server) by whatever address it reported:
 * trust only `ca`, present `identity` when given (mutual TLS), and check that the peer's
 * certificate names the expected part instead of checking the host name (the CA pin and the
 * common name are the identity; addresses change).
 */
export function partTlsOptions(o: { ca: string; expect: PartIdentity; identity?: TlsIdentity }): ConnectionOptions {
  const expected = partCommonName(o.expect);
  const options: ConnectionOptions = {
    ca: o.ca,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MIN_VERSION,
    rejectUnauthorized: true,
    ...(o.expect.kind === 'server' ? { servername: PART_SERVERNAME } : {}),
    // Node calls this only after the chain verified against `ca`
    checkServerIdentity: (_host, cert) => {
      const cn = commonNameOf(cert);
      return cn === expected
        ? undefined
        : new CairnError('E_UNAUTHORIZED', `peer certificate names ${cn ?? 'no Cairn part'}, expected ${expected}`);
    },
  };
  if (o.identity) {
    options.key = o.identity.keyPem;
    options.cert = o.identity.certPem;
  }
  return options;
}

/** The common name of every backup server's CA (server/server-files.ts). */
export const CAIRN_CA_NAME = 'Cairn CA';

/**
 * TLS options for a console of the backup server. Trusting the server's own CA (the usual case)
 * it checks that the peer is the Cairn server, sending PART_SERVERNAME; trusting another CA (the
 * site's, for a server started with --web-cert) it checks the URL's host name, as a browser does.
 * Either way the chain must verify against `ca` alone, so guessing wrong only fails to connect.
 */
export function consoleTlsOptions(ca: string): ConnectionOptions {
  let name: string | undefined;
  try {
    name = new X509Certificate(ca).subject;
  } catch {
    name = undefined; // not a certificate: the handshake fails with the TLS library's own words
  }
  if (name === `CN=${CAIRN_CA_NAME}`) return partTlsOptions({ ca, expect: { kind: 'server', name: 'server' } });
  return { ca, minVersion: TLS_MIN_VERSION, maxVersion: TLS_MIN_VERSION, rejectUnauthorized: true };
}

/**
 * Options for a server that parts reach with their certificates: it asks every client for one
 * but lets the handshake through without it (consoles have none), so each handler decides
 * with `peerPart`.
 */
export function mutualServerTlsOptions(identity: TlsIdentity, caPem: string) {
  return { ...serverTlsOptions(identity), ca: caPem, requestCert: true, rejectUnauthorized: false };
}

function commonNameOf(cert: PeerCertificate): string | undefined {
  const cn: unknown = cert.subject?.CN;
  return typeof cn === 'string' ? cn : undefined; // several CNs (an array) name no Cairn part
}

/**
 * The Cairn part on the other end of a mutual TLS socket and its certificate's fingerprint,
 * when it presented a certificate that chains to the CA the server was given; else undefined.
 */
export function peerPart(socket: TLSSocket): { part: PartIdentity; fingerprint: string } | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate(false);
  if (!cert?.raw) return undefined;
  const cn = commonNameOf(cert);
  const part = cn === undefined ? undefined : parsePartCommonName(cn);
  return part ? { part, fingerprint: fingerprintOf(cert) } : undefined;
}

// The site's own certificate for the REST API and the web console (`server start --web-cert FILE
// --web-key FILE`), on the same port as the parts, chosen by SNI. Parts and Cairn consoles always
// send the reserved server name PART_SERVERNAME (core/tls.ts) and get the server's leaf from the
// pinned CA, as before; a browser or a console trusting the site's CA sends the URL's host name
// and gets the site certificate. The choice cannot rest on the client's certificate: in TLS 1.3
// the server shows its own before the client shows one. A client sending no server name (an
// address URL) gets the Cairn leaf, as every client did before.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { mutualServerTlsOptions, PART_SERVERNAME, serverTlsOptions, type TlsIdentity } from '../core/tls.ts';

export type WebCertFiles = { cert: string; key: string };
export type WebIdentity = TlsIdentity & { files: WebCertFiles; expiresAt: number; subject: string };

async function readPem(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CairnError('E_USAGE', fromSystemError(e, `${flag} ${file}`).message);
  }
}

/** Reads and checks the site's certificate (a PEM chain, leaf first) and key: both PEM, matching, valid now. */
export async function loadWebIdentity(files: WebCertFiles, nowMs = Date.now()): Promise<WebIdentity> {
  const certPem = await readPem(files.cert, '--web-cert');
  const keyPem = await readPem(files.key, '--web-key');
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) throw new CairnError('E_USAGE', `--web-cert ${files.cert} is not a PEM certificate`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch {
    throw new CairnError('E_USAGE', `--web-cert ${files.cert} is not a PEM certificate`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) throw new Error('no PEM private key');
    key = createPrivateKey(keyPem);
  } catch {
    throw new CairnError('E_USAGE', `--web-key ${files.key} is not a PEM private key (an encrypted key is not supported)`);
  }
  if (!leaf.checkPrivateKey(key)) throw new CairnError('E_USAGE', `--web-key ${files.key} is not the key of the certificate in --web-cert ${files.cert}`);
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (nowMs < from || nowMs > to) throw new CairnError('E_USAGE', `--web-cert ${files.cert} is not valid now (valid from ${leaf.validFrom} to ${leaf.validTo})`);
  return { certPem, keyPem, files, expiresAt: to, subject: leaf.subject.replace(/\n/g, ', ') };
}

/**
 * The https server's TLS options: the Cairn leaf by default and for PART_SERVERNAME, the site's
 * certificate for any other server name when there is one. Client certificates are asked for on
 * both (the option is per connection, before SNI); only the Cairn CA's ever make a part.
 */
export function serverTls(identity: TlsIdentity, caPem: string, web: WebIdentity | undefined) {
  const base = mutualServerTlsOptions(identity, caPem);
  if (web === undefined) return { options: base, renew: (renewed: TlsIdentity) => mutualServerTlsOptions(renewed, caPem) };
  let cairn: SecureContext = createSecureContext(base);
  const site = createSecureContext({ ...serverTlsOptions(web), ca: caPem });
  const options = {
    ...base,
    SNICallback: (servername: string, done: (err: Error | null, ctx?: SecureContext) => void) => done(null, servername === PART_SERVERNAME ? cairn : site),
  };
  /** the options for server.setSecureContext after the Cairn leaf was renewed */
  const renew = (renewed: TlsIdentity) => {
    const next = mutualServerTlsOptions(renewed, caPem);
    cairn = createSecureContext(next);
    return next;
  };
  return { options, renew };
}

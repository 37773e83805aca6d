// A TLS identity on disk, `DIR/key.pem` (0600) + `DIR/cert.pem`, replaced without a window in
// which the two do not match: a new pair is written as `next-key.pem` + `next-cert.pem` (each
// temp + fsync + rename) and then renamed over the current one, key first. A crash between the
// renames leaves key.pem new and cert.pem old, next-cert.pem still there: `readIdentity` picks the
// matching pair that expires last among the four files and finishes the move. A renewal that
// waits for its certificate keeps its key and CSR as `next-key.pem` + `next.csr` (`savePending`),
// so a lost answer can be asked for again with the same request.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, readTextIfExists, writeFileAtomic } from './durable-fs.ts';
import { CairnError } from './errors.ts';
import type { TlsIdentity } from './tls.ts';

const KEY = 'key.pem';
const CERT = 'cert.pem';
const NEXT_KEY = 'next-key.pem';
const NEXT_CERT = 'next-cert.pem';
const NEXT_CSR = 'next.csr';

export type PendingRenewal = { keyPem: string; csrPem: string };

function matches(keyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function expiry(certPem: string): number {
  return new X509Certificate(certPem).validToDate.getTime();
}

/**
 * The identity in `dir`, finishing a replacement a crash interrupted; undefined when there is
 * none. E_CORRUPT when files are there but no key matches a certificate.
 */
export async function readIdentity(dir: string): Promise<TlsIdentity | undefined> {
  const read = (f: string) => readTextIfExists(join(dir, f));
  const [key, cert, nextKey, nextCert] = await Promise.all([read(KEY), read(CERT), read(NEXT_KEY), read(NEXT_CERT)]);
  if (key === undefined && cert === undefined) return undefined;
  const pairs: { key: [string, string]; cert: [string, string] }[] = [];
  for (const k of [[KEY, key], [NEXT_KEY, nextKey]] as const)
    for (const c of [[CERT, cert], [NEXT_CERT, nextCert]] as const)
      if (k[1] !== undefined && c[1] !== undefined && matches(k[1], c[1])) pairs.push({ key: [k[0], k[1]], cert: [c[0], c[1]] });
  const best = pairs.sort((a, b) => expiry(b.cert[1]) - expiry(a.cert[1]))[0];
  if (!best) throw new CairnError('E_CORRUPT', `${dir}: no key matches a certificate (key.pem, cert.pem)`);
  const moved = best.key[0] !== KEY || best.cert[0] !== CERT;
  if (best.key[0] !== KEY) await rename(join(dir, best.key[0]), join(dir, KEY));
  if (best.cert[0] !== CERT) await rename(join(dir, best.cert[0]), join(dir, CERT));
  // a next certificate not in use is left over from a finished or failed replacement
  if (nextCert !== undefined) await rm(join(dir, NEXT_CERT), { force: true });
  if (best.key[0] === NEXT_KEY) await rm(join(dir, NEXT_CSR), { force: true });
  if (moved || nextCert !== undefined) await fsyncDir(dir);
  return { keyPem: best.key[1], certPem: best.cert[1] };
}

/** Replaces the identity in `dir` (made if missing) with `identity`, never leaving a mismatched pair. */
export async function saveIdentity(dir: string, identity: TlsIdentity): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(dir, NEXT_KEY), identity.keyPem, { mode: 0o600 });
  await writeFileAtomic(join(dir, NEXT_CERT), identity.certPem);
  await rename(join(dir, NEXT_KEY), join(dir, KEY));
  await rename(join(dir, NEXT_CERT), join(dir, CERT));
  await rm(join(dir, NEXT_CSR), { force: true });
  await fsyncDir(dir);
}

/** Keeps a renewal's new key and CSR until its certificate is installed. */
export async function savePending(dir: string, pending: PendingRenewal): Promise<void> {
  await writeFileAtomic(join(dir, NEXT_KEY), pending.keyPem, { mode: 0o600 });
  await writeFileAtomic(join(dir, NEXT_CSR), pending.csrPem);
}

/** The renewal waiting for its certificate, if any. */
export async function readPending(dir: string): Promise<PendingRenewal | undefined> {
  const [keyPem, csrPem] = await Promise.all([readTextIfExists(join(dir, NEXT_KEY)), readTextIfExists(join(dir, NEXT_CSR))]);
  return keyPem !== undefined && csrPem !== undefined ? { keyPem, csrPem } : undefined;
}

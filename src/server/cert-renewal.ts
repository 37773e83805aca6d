// Renewing and re-enrolling parts' certificates (docs/control-plane.md "TLS and identity"). The
// catalog's cert_fingerprint is the one certificate a part may connect with; renewal replaces it
// in the same transaction that records the new expiry, so the old certificate is refused at once.
// The certificate last issued to each part is also kept in DATA/issued/KIND-NAME.pem (written
// before the catalog changes): a part whose answer was lost asks again with the same CSR and
// gets that certificate back (over the control channel, or, when its old certificate is refused
// there, from POST /api/renewed with that old certificate), instead of being locked out.
import { auditScheduler } from './audit.ts';
import { createPublicKey, createVerify, X509Certificate } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { csrPublicKeyDer, issuePartCertificate } from '../core/ca.ts';
import { certValidity } from '../core/cert-life.ts';
import { readTextIfExists, writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError } from '../core/errors.ts';
import { partCommonName } from '../core/part-identity.ts';
import { certificateFingerprint, peerPart } from '../core/tls.ts';
import { reenrollSigned } from '../protocol/enrollment-token.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { num, type PartKindName, partTable, type ServerContext } from './context.ts';
import type { PartRef } from './control-hub.ts';

/** What a re-enrolling part sends to prove it is the part enrolled under that name. */
export type ReenrollProof = { certificate: string; signature: string };

function issuedPath(ctx: ServerContext, part: PartRef): string {
  return join(ctx.dataDir, 'issued', `${part.kind}-${part.name}.pem`);
}

function samePublicKey(certPem: string, csrPem: string): boolean {
  const certKey = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return certKey.equals(csrPublicKeyDer(csrPem));
}

type PartRow = { id: number; cert_fingerprint: string };

async function partRow(db: CatalogDriver, part: PartRef): Promise<PartRow> {
  const rows = await db.query<PartRow>(`SELECT id, cert_fingerprint FROM ${partTable(part.kind)} WHERE name = ? AND removed_at IS NULL`, [part.name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no ${part.kind} named ${part.name}`);
  return rows[0];
}

/** The certificate issued last to `part` for the CSR's key, when it is still the enrolled one. */
async function alreadyIssued(ctx: ServerContext, part: PartRef, row: PartRow, csrPem: string): Promise<string | undefined> {
  const issued = await readTextIfExists(issuedPath(ctx, part));
  if (issued === undefined || certificateFingerprint(issued) !== row.cert_fingerprint) return undefined;
  return samePublicKey(issued, csrPem) ? issued : undefined;
}

/** Records a certificate as the part's only accepted one (inside the caller's transaction). */
export async function recordCertificate(db: CatalogDriver, kind: PartKindName, id: number, certPem: string): Promise<void> {
  await db.run(`UPDATE ${partTable(kind)} SET cert_fingerprint = ?, cert_expires = ? WHERE id = ?`, [
    certificateFingerprint(certPem),
    certValidity(certPem).expiresAt,
    id,
  ]);
}

/** Keeps the certificate just issued to `part` for a lost answer (before the catalog names it). */
export async function keepIssued(ctx: ServerContext, part: PartRef, certPem: string): Promise<void> {
  await mkdir(join(ctx.dataDir, 'issued'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(issuedPath(ctx, part), certPem);
}

/** `renewCertificate` from a connected part: a new certificate for the CSR's key, replacing the enrolled one. */
export async function renewPartCertificate(ctx: ServerContext, part: PartRef, csrPem: string): Promise<{ certificate: string }> {
  const again = await alreadyIssued(ctx, part, await partRow(ctx.db, part), csrPem);
  if (again !== undefined) return { certificate: again };
  await auditScheduler(ctx.db, 'certificate.renew', `part=${JSON.stringify(`${part.kind}:${part.name}`)}`, `renewed the certificate of ${part.kind} ${part.name}`);
  const certificate = await issuePartCertificate(ctx.ca, csrPem, { kind: part.kind, name: part.name });
  await keepIssued(ctx, part, certificate);
  await ctx.db.transaction(async (tx) => {
    const row = await partRow(tx, part); // removed meanwhile: E_NOT_FOUND, nothing recorded
    await recordCertificate(tx, part.kind, num(row.id), certificate);
  });
  ctx.log(`${part.kind} ${part.name} renewed its certificate (expires ${new Date(certValidity(certificate).expiresAt).toISOString()})`);
  return { certificate };
}

/**
 * POST /api/renewed: the certificate a renewal already issued, for a part whose answer was lost
 * and whose old certificate the control channel now refuses. The caller must present a
 * certificate of the CA naming that part (TLS checked chain and dates) and the CSR it renewed
 * with; only a certificate already issued for that CSR's key is answered, nothing new is signed.
 */
export async function renewedCertificate(ctx: ServerContext, req: IncomingMessage, csrPem: string): Promise<{ certificate: string }> {
  const peer = peerPart(req.socket as TLSSocket);
  if (!peer || peer.part.kind === 'server') throw new CairnError('E_UNAUTHORIZED', "a part's certificate from this server's CA is required");
  const part: PartRef = { kind: peer.part.kind, name: peer.part.name };
  const issued = await alreadyIssued(ctx, part, await partRow(ctx.db, part), csrPem);
  if (issued === undefined) throw new CairnError('E_NOT_FOUND', `no certificate was issued to ${part.kind} ${part.name} for this request's key`);
  return { certificate: issued };
}

/**
 * Is `proof` from the part enrolled as KIND:NAME? Its certificate must be from this CA (expired
 * is fine: that is why it re-enrolls), name that part, be the very certificate the catalog
 * holds, and its key must have signed `reenrollSigned(csr)`. Answers why not, or undefined.
 */
export function reenrollRefusal(ctx: ServerContext, part: PartRef, enrolledFingerprint: string, proof: ReenrollProof, csrPem: string): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(proof.certificate);
  } catch {
    return 'its certificate is not PEM';
  }
  const ca = new X509Certificate(ctx.ca.certPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return "its certificate is not from this server's CA";
  if (cert.subject !== `CN=${partCommonName(part)}`) return `its certificate names ${cert.subject.replace(/^CN=/, '')}`;
  if (certificateFingerprint(proof.certificate) !== enrolledFingerprint) return 'its certificate is not the one enrolled';
  const verify = createVerify('sha256').update(reenrollSigned(csrPem));
  let ok = false;
  try {
    ok = verify.verify(createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' })), proof.signature, 'base64');
  } catch {
    ok = false;
  }
  return ok ? undefined : 'its signature does not verify with that certificate';
}

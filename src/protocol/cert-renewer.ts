// A part's side of certificate renewal (docs/control-plane.md "TLS and identity"). Each check
// (hourly; core/cert-life.ts) decides from the certificate alone: keep it, renew it (two thirds
// of its life gone), or say it expired (only a re-enrollment with a token helps then). To renew,
// the part makes a new key and CSR and keeps both on disk before asking, so an answer lost on the
// way is asked for again with the same CSR: over the control channel when it is up, else from
// POST /api/renewed with the old certificate (which the control channel refuses once the server
// issued the new one). The new pair is checked, saved (core/identity-files.ts) and only then
// handed to `apply`, which points new connections at it; open connections are left alone.
import { certValidity, type RenewalChecks, renewalDecision, startRenewalChecks } from '../core/cert-life.ts';
import { CairnError } from '../core/errors.ts';
import { readPending, saveIdentity, savePending } from '../core/identity-files.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import type { TlsIdentity } from '../core/tls.ts';
import type { RenewCertificateParams } from './control.ts';

export type PartRenewalOptions = {
  /** the part's `tls/` folder (key.pem, cert.pem and the pending renewal) */
  tlsDir: string;
  self: PartIdentity & { kind: 'agent' | 'storage' };
  server: string;
  caPem: string;
  /** a storage server's listen host, kept in its certificate's names */
  hosts?: string[];
  current: () => TlsIdentity;
  /** the control channel: is it up, and a call over it */
  connected: () => boolean;
  call: (method: string, params: unknown) => Promise<unknown>;
  /** the new identity, saved: use it for new connections */
  apply: (identity: TlsIdentity) => void;
  log: (line: string) => void;
  /** how to re-enroll, for the log line when the certificate expired */
  reenrollHint: string;
};

/** One check: renews when due (or finishes a renewal whose answer was lost). */
export async function checkPartCertificate(o: PartRenewalOptions): Promise<'kept' | 'renewed' | 'expired'> {
  const current = o.current();
  let pending = await readPending(o.tlsDir);
  const decision = renewalDecision(current.certPem, Date.now());
  if (decision === 'expired') {
    o.log(`certificate expired: ${o.reenrollHint}`);
    return 'expired';
  }
  if (!pending) {
    // a fresh renewal is asked for over the control channel only; offline, the next check asks
    if (decision === 'keep' || !o.connected()) return 'kept';
    const { createPartRequest } = await import('../core/ca.ts'); // @peculiar/x509 only when renewing
    pending = await createPartRequest(o.self);
    await savePending(o.tlsDir, pending);
  }
  const { checkIssued, fetchRenewedCertificate } = await import('./enroll-client.ts');
  let certificate: unknown;
  if (o.connected()) {
    const params: RenewCertificateParams = { csr: pending.csrPem, ...(o.hosts ? { hosts: o.hosts } : {}) };
    certificate = ((await o.call('renewCertificate', params)) as { certificate?: unknown } | undefined)?.certificate;
  } else {
    certificate = await fetchRenewedCertificate(o.server, o.caPem, current, pending.csrPem);
  }
  if (typeof certificate !== 'string') throw new CairnError('E_INTERNAL', 'renewCertificate: answer lacks certificate');
  checkIssued(certificate, pending.keyPem, o.caPem, o.self, 'renewCertificate');
  const identity: TlsIdentity = { keyPem: pending.keyPem, certPem: certificate };
  await saveIdentity(o.tlsDir, identity);
  o.apply(identity);
  o.log(`certificate renewed, expires ${new Date(certValidity(certificate).expiresAt).toISOString()}`);
  return 'renewed';
}

/** Checks now and every certCheckMs(); an expired certificate is reported once, not every hour. */
export function startPartRenewal(o: PartRenewalOptions): RenewalChecks {
  let expiredSaid = false;
  return startRenewalChecks(
    async () => {
      const outcome = await checkPartCertificate({ ...o, log: (line) => (line.startsWith('certificate expired') && expiredSaid ? undefined : o.log(line)) });
      if (outcome === 'expired') expiredSaid = true;
    },
    o.log,
  );
}

// When a part's (or the server's) certificate is renewed: the CA issues leaves for
// `certLifetimeMs()` (365 days; CAIRN_TEST_CERT_LIFETIME_MS in tests), starting a minute early for
// slow peer clocks, and every holder looks every `certCheckMs()` (1 h; CAIRN_TEST_CERT_CHECK_MS)
// and renews once two thirds of the life it was issued for are gone. The real clock is used, not
// the test clock of test-settings.ts: TLS checks validity with the real one.
import { X509Certificate } from 'node:crypto';
import { testDuration } from './test-settings.ts';

const DAY_MS = 24 * 3600 * 1000;
/** Leaves start this much before they are issued, so a peer whose clock is a little slow accepts them. */
export const CERT_SKEW_MS = 60_000;

export function certLifetimeMs(): number {
  return testDuration('CERT_LIFETIME', 365 * DAY_MS);
}

export function certCheckMs(): number {
  return Math.max(100, testDuration('CERT_CHECK', 3600_000));
}

export type CertValidity = { issuedAt: number; expiresAt: number };

/** When the certificate was issued (its start without the skew minute) and when it expires, in ms. */
export function certValidity(certPem: string): CertValidity {
  const cert = new X509Certificate(certPem);
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  // a leaf of ours starts CERT_SKEW_MS early; one shorter than that (never ours) counts from its start
  const issuedAt = to - from > CERT_SKEW_MS ? from + CERT_SKEW_MS : from;
  return { issuedAt, expiresAt: to };
}

/** The moment renewal is due: two thirds of the issued life gone. */
export function renewalDueAt(v: CertValidity): number {
  return v.issuedAt + Math.floor(((v.expiresAt - v.issuedAt) * 2) / 3);
}

export type RenewalDecision = 'keep' | 'renew' | 'expired';

/** What to do with this certificate at `nowMs`: keep it, renew it, or it is too late (re-enroll). */
export function renewalDecision(certPem: string, nowMs: number): RenewalDecision {
  const v = certValidity(certPem);
  if (nowMs >= v.expiresAt) return 'expired';
  return nowMs >= renewalDueAt(v) ? 'renew' : 'keep';
}

export type RenewalChecks = { stop: () => Promise<void> };

/**
 * Runs `check` now and every `periodMs` (certCheckMs() by default), one at a time; a failed
 * check is logged and tried again at the next period. `stop` waits for a check in progress.
 */
export function startRenewalChecks(check: () => Promise<void>, log: (line: string) => void, periodMs = certCheckMs()): RenewalChecks {
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped || running) return;
    running = check()
      .catch((e: unknown) => log(`certificate check failed: ${(e as Error)?.message ?? String(e)}`))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, periodMs);
  timer.unref();
  setImmediate(tick);
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

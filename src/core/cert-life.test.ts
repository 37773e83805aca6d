import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCertificateAuthority, createPartRequest, issuePartCertificate } from './ca.ts';
import { certValidity, renewalDecision, renewalDueAt } from './cert-life.ts';

describe('certificate life', () => {
  it('issues a leaf that lives its lifetime from now (the skew minute comes on top) and renews at two thirds of it', async () => {
    const ca = await createCertificateAuthority();
    const { csrPem } = await createPartRequest({ kind: 'agent', name: 'a1' });
    const now = new Date('2030-01-01T00:00:00Z');
    const cert = await issuePartCertificate(ca, csrPem, { kind: 'agent', name: 'a1', now, lifetimeMs: 30_000 });
    const v = certValidity(cert);
    assert.deepEqual(v, { issuedAt: now.getTime(), expiresAt: now.getTime() + 30_000 });
    assert.equal(renewalDueAt(v), now.getTime() + 20_000);
    assert.equal(renewalDecision(cert, now.getTime() + 19_999), 'keep');
    assert.equal(renewalDecision(cert, now.getTime() + 20_000), 'renew');
    assert.equal(renewalDecision(cert, now.getTime() + 30_000), 'expired');
  });

  it('never lets a leaf outlive its CA', async () => {
    const ca = await createCertificateAuthority('CA', new Date('2020-01-01T00:00:00Z'));
    const { csrPem } = await createPartRequest({ kind: 'storage', name: 's1' });
    const cert = await issuePartCertificate(ca, csrPem, { kind: 'storage', name: 's1', now: new Date('2029-12-01T00:00:00Z') });
    assert.ok(certValidity(cert).expiresAt < Date.parse('2030-01-01T00:00:00Z'));
  });
});

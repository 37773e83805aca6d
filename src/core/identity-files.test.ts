import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCertificateAuthority, createPartRequest, issuePartCertificate } from './ca.ts';
import { readIdentity, readPending, saveIdentity, savePending } from './identity-files.ts';

async function leaf(ca: Awaited<ReturnType<typeof createCertificateAuthority>>, lifetimeMs: number) {
  const { keyPem, csrPem } = await createPartRequest({ kind: 'agent', name: 'a1' });
  return { keyPem, csrPem, certPem: await issuePartCertificate(ca, csrPem, { kind: 'agent', name: 'a1', lifetimeMs }) };
}

describe('identity files', () => {
  it('replaces the pair and reads back the new one; nothing is pending after', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cairn-id-')), 'tls');
    const ca = await createCertificateAuthority();
    const old = await leaf(ca, 60_000);
    assert.equal(await readIdentity(dir), undefined);
    await saveIdentity(dir, old);
    const next = await leaf(ca, 120_000);
    await savePending(dir, next);
    assert.equal((await readIdentity(dir))?.certPem, old.certPem, 'a pending key is not the identity yet');
    assert.deepEqual(await readPending(dir), { keyPem: next.keyPem, csrPem: next.csrPem });
    await saveIdentity(dir, next);
    assert.deepEqual(await readIdentity(dir), { keyPem: next.keyPem, certPem: next.certPem });
    assert.equal(await readPending(dir), undefined);
  });

  it('finishes a replacement a crash cut between the two renames (new key, old certificate)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cairn-id-')), 'tls');
    const ca = await createCertificateAuthority();
    const old = await leaf(ca, 60_000);
    const next = await leaf(ca, 120_000);
    await saveIdentity(dir, old);
    writeFileSync(join(dir, 'next-cert.pem'), next.certPem);
    writeFileSync(join(dir, 'next-key.pem'), next.keyPem);
    renameSync(join(dir, 'next-key.pem'), join(dir, 'key.pem')); // the crash: cert.pem not yet moved
    assert.deepEqual(await readIdentity(dir), { keyPem: next.keyPem, certPem: next.certPem });
    assert.equal(readFileSync(join(dir, 'cert.pem'), 'utf8'), next.certPem);
    assert.equal(existsSync(join(dir, 'next-cert.pem')), false);
  });
});

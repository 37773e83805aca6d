import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCertificateAuthority } from '../core/ca.ts';
import { isCairnError } from '../core/errors.ts';
import { type Grant, signGrant, verifyGrant } from './grant.ts';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const NOW = 1_750_000_000_000;
const grant: Grant = { agent: 'laptop', cert: 'ab'.repeat(32), storage: 'nas', vault: 'home', op: 'backup', run: 'run-42', exp: NOW + 600_000 };
const expect = { vault: 'home', op: 'backup', storage: 'nas' } as const;

function refused(reason: RegExp) {
  return (e: unknown) => isCairnError(e, 'E_FORBIDDEN') && reason.test(e.message);
}
const malformed = (e: unknown) => isCairnError(e, 'E_BAD_REQUEST') && !e.message.includes('\n');

describe('grant', () => {
  it('round-trips a signed grant', () => {
    const token = signGrant(privateKey, grant);
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    assert.deepEqual(verifyGrant(publicKey, token, expect, NOW), grant);
    assert.deepEqual(verifyGrant(publicKey, token, { vault: 'home', op: 'backup' }, NOW), grant);
    // PEM keys work too, and the public key may come from the server's certificate
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.deepEqual(verifyGrant(publicKey.export({ format: 'pem', type: 'spki' }).toString(), signGrant(pem, grant), expect, NOW), grant);
  });

  it('accepts a server key given as a certificate PEM', async () => {
    const ca = await createCertificateAuthority();
    assert.deepEqual(verifyGrant(ca.certPem, signGrant(ca.keyPem, grant), expect, NOW), grant);
  });

  it('refuses a tampered payload or signature, and another signer', () => {
    const token = signGrant(privateKey, grant);
    const [payload, signature] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...grant, vault: 'other' })).toString('base64url');
    assert.throws(() => verifyGrant(publicKey, `${forged}.${signature}`, { ...expect, vault: 'other' }, NOW), refused(/bad signature/));
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    assert.throws(() => verifyGrant(publicKey, `${payload}.${flipped}`, expect, NOW), refused(/bad signature/));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => verifyGrant(other.publicKey, token, expect, NOW), refused(/bad signature/));
  });

  it('refuses an expired grant beyond the skew and accepts one within it', () => {
    const token = signGrant(privateKey, grant);
    assert.deepEqual(verifyGrant(publicKey, token, expect, grant.exp), grant);
    assert.deepEqual(verifyGrant(publicKey, token, expect, grant.exp + 60_000), grant);
    assert.throws(() => verifyGrant(publicKey, token, expect, grant.exp + 60_001), refused(/expired/));
    assert.throws(() => verifyGrant(publicKey, token, expect, grant.exp + 1, 0), refused(/expired/));
  });

  it('refuses a grant for another vault, op or storage server', () => {
    const token = signGrant(privateKey, grant);
    assert.throws(() => verifyGrant(publicKey, token, { ...expect, vault: 'work' }, NOW), refused(/vault home, not work/));
    assert.throws(() => verifyGrant(publicKey, token, { ...expect, op: 'gc' }, NOW), refused(/backup, not gc/));
    assert.throws(() => verifyGrant(publicKey, token, { ...expect, storage: 'cloud' }, NOW), refused(/storage nas, not cloud/));
  });

  it('calls anything that is not a grant malformed', () => {
    const token = signGrant(privateKey, grant);
    const [payload, signature] = token.split('.') as [string, string];
    for (const text of ['', 'abc', `${token}.x`, `${payload}.`, `.${signature}`, `${payload}.${signature.slice(1)}`, `${payload}$.${signature}`, 'x'.repeat(3000)])
      assert.throws(() => verifyGrant(publicKey, text, expect, NOW), malformed, text.slice(0, 40));
    // a signed payload that is not a grant (a signer bug) is still refused as malformed
    const bogus = Buffer.from(JSON.stringify({ ...grant, admin: true })).toString('base64url');
    const sig = sign('sha256', Buffer.from(bogus, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    assert.throws(() => verifyGrant(publicKey, `${bogus}.${sig}`, expect, NOW), malformed);
  });

  it('will not sign an invalid grant, nor use a key of another kind', () => {
    assert.throws(() => signGrant(privateKey, { ...grant, op: 'delete' as 'gc' }), malformed);
    assert.throws(() => signGrant(privateKey, { ...grant, vault: '../x' }), malformed);
    assert.throws(() => signGrant(privateKey, { ...grant, exp: Number.NaN }), malformed);
    const ed = generateKeyPairSync('ed25519');
    assert.throws(() => signGrant(ed.privateKey, grant), (e) => isCairnError(e, 'E_INTERNAL'));
    assert.throws(() => verifyGrant(ed.publicKey, signGrant(privateKey, grant), expect, NOW), (e) => isCairnError(e, 'E_INTERNAL'));
  });
});

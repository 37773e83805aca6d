import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import {
  assertTokenUnexpired,
  createEnrollmentToken,
  type EnrollmentToken,
  encodeEnrollmentToken,
  hashTokenSecret,
  parseEnrollmentToken,
  tokenSecretMatches,
} from './enrollment-token.ts';

const FINGERPRINT = 'ab'.repeat(32);
const base = { kind: 'agent', id: 'laptop', caFingerprint: FINGERPRINT, server: 'https://backup.example:8443' } as const;

function rawToken(payload: unknown): string {
  return `cairn1.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
}

function isBadRequest(e: unknown): boolean {
  return isCairnError(e, 'E_BAD_REQUEST') && !e.message.includes('\n');
}

describe('enrollment token', () => {
  it('round-trips, and the server keeps only a hash of the secret', () => {
    const { token, payload, secretHash } = createEnrollmentToken({ ...base, ttlMs: 3_600_000 }, 1_000_000);
    assert.match(token, /^cairn1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(parseEnrollmentToken(`  ${token}\n`), payload);
    assert.equal(payload.exp, 4_600_000);
    assert.equal(payload.kind, 'agent');
    assert.equal(payload.id, 'laptop');
    assert.match(secretHash, /^[0-9a-f]{64}$/);
    assert.notEqual(secretHash, payload.secret);
    assert.equal(secretHash, hashTokenSecret(payload.secret));
    assert.ok(tokenSecretMatches(payload.secret, secretHash));
    assert.equal(tokenSecretMatches(payload.secret.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), secretHash), false);
    assert.equal(tokenSecretMatches(payload.secret, 'short'), false);
    const again = createEnrollmentToken({ ...base, ttlMs: 1 }).payload;
    assert.notEqual(again.secret, payload.secret);
  });

  it('expires by the injected clock', () => {
    const { payload } = createEnrollmentToken({ ...base, ttlMs: 1000 }, 5000);
    assertTokenUnexpired(payload, 6000);
    assert.throws(() => assertTokenUnexpired(payload, 6001), (e) => isCairnError(e, 'E_UNAUTHORIZED'));
  });

  it('refuses malformed tokens with one-line E_BAD_REQUEST messages', () => {
    const good = createEnrollmentToken({ ...base, ttlMs: 1000 }).payload;
    const cases: [string, string][] = [
      ['', 'empty'],
      ['cairn2.abc', 'wrong prefix'],
      ['cairn1.', 'empty body'],
      ['cairn1.ab$cd', 'not base64url'],
      [`cairn1.${Buffer.from('not json').toString('base64url')}`, 'not JSON'],
      [rawToken([1, 2]), 'array'],
      [rawToken(null), 'null'],
      [rawToken({ ...good, extra: 1 }), 'unknown field'],
      [rawToken({ ...good, kind: 'admin' }), 'bad kind'],
      [rawToken({ ...good, id: 'a,CN=b' }), 'bad id'],
      [rawToken({ ...good, secret: 'short' }), 'short secret'],
      [rawToken({ ...good, exp: '123' }), 'string exp'],
      [rawToken({ ...good, exp: 1.5 }), 'fractional exp'],
      [rawToken({ ...good, caFingerprint: FINGERPRINT.toUpperCase() }), 'upper-case fingerprint'],
      [rawToken({ ...good, server: 'http://backup.example' }), 'plain http'],
      [rawToken({ ...good, server: 'https://u:p@backup.example' }), 'credentials in URL'],
      [rawToken({ ...good, server: 'nonsense' }), 'not a URL'],
      [rawToken((({ secret: _s, ...rest }) => rest)(good)), 'missing secret'],
      [`cairn1.${'A'.repeat(5000)}`, 'too long'],
    ];
    for (const [text, why] of cases) assert.throws(() => parseEnrollmentToken(text), isBadRequest, why);
    // a damaged paste whose base64url still decodes (trailing bits) is caught by the canonical check
    const token = encodeEnrollmentToken(good);
    const bent = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    assert.throws(() => parseEnrollmentToken(`${token}=`), isBadRequest);
    assert.throws(() => parseEnrollmentToken(bent), isBadRequest);
  });

  it('will not encode an invalid token', () => {
    const good = createEnrollmentToken({ ...base, ttlMs: 1000 }).payload;
    assert.throws(() => encodeEnrollmentToken({ ...good, server: 'ftp://x' } as EnrollmentToken), isBadRequest);
    assert.throws(() => createEnrollmentToken({ ...base, kind: 'robot' as 'agent', ttlMs: 1 }), isBadRequest);
  });
});

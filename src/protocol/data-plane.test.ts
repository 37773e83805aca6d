import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError } from '../core/errors.ts';
import { checkVaultName, decodeLocateAnswer, encodeLocateAnswer, matchRoute, parsePackAnswer, parseRange, parseScrubReport, paths, splitIds } from './data-plane.ts';

const isCode = (code: string) => (e: unknown) => e instanceof CairnError && e.code === code;
const hex = 'ab'.repeat(32);

describe('data-plane routes', () => {
  it('routes every path with its op and names', () => {
    assert.deepEqual(matchRoute('POST', '/v1/vaults'), { route: 'createVault', op: 'admin' });
    assert.deepEqual(matchRoute('PUT', paths.pack('v1', hex)), { route: 'putPack', op: 'write', vault: 'v1', name: hex });
    assert.deepEqual(matchRoute('POST', paths.packs('v1')), { route: 'postPack', op: 'write', vault: 'v1' });
    assert.throws(() => matchRoute('GET', paths.packs('v1')), isCode('E_BAD_REQUEST'));
    assert.deepEqual(matchRoute('GET', `${paths.snapshot('v', hex)}?x=1`), {
      route: 'getSnapshot',
      op: 'read',
      vault: 'v',
      name: hex,
    });
    assert.equal(matchRoute('GET', paths.snapshotRefs('v', hex)).route, 'getSnapshotRefs');
    assert.equal(matchRoute('POST', paths.scrub('v')).op, 'admin');
  });

  it('refuses unknown paths, wrong methods and malformed names', () => {
    assert.throws(() => matchRoute('GET', '/v2/vaults'), isCode('E_NOT_FOUND'));
    assert.throws(() => matchRoute('GET', '/v1/vaults/v/nothing'), isCode('E_NOT_FOUND'));
    assert.throws(() => matchRoute('DELETE', '/v1/vaults/v'), isCode('E_BAD_REQUEST'));
    assert.throws(() => matchRoute('GET', '/v1/vaults/%2e%2e'), isCode('E_BAD_REQUEST'));
    assert.throws(() => matchRoute('PUT', `/v1/vaults/v/packs/${hex.toUpperCase()}`), isCode('E_BAD_REQUEST'));
    assert.throws(() => paths.pack('v', 'short'), isCode('E_BAD_REQUEST'));
  });

  it('accepts vault names by the documented rule only', () => {
    for (const ok of ['a', 'A.b_c-1', 'x'.repeat(64)]) assert.equal(checkVaultName(ok), ok);
    for (const bad of ['', '.a', '-a', '_a', 'a/b', 'x'.repeat(65), 'é', 7])
      assert.throws(() => checkVaultName(bad), isCode('E_BAD_REQUEST'));
  });
});

describe('data-plane bodies', () => {
  it('splits id lists and bounds their count', () => {
    assert.equal(splitIds(Buffer.alloc(96), 3, 'x').length, 3);
    assert.throws(() => splitIds(Buffer.alloc(95), 3, 'x'), isCode('E_BAD_REQUEST'));
    assert.throws(() => splitIds(Buffer.alloc(128), 3, 'x'), isCode('E_TOO_LARGE'));
  });

  it('parses Range headers against a size', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=50-500', 100), { start: 50, end: 99 });
    assert.equal(parseRange('bytes=100-', 100), undefined);
    assert.equal(parseRange('bytes=9-3', 100), undefined);
    assert.throws(() => parseRange('bytes=0-1,5-6', 100), isCode('E_BAD_REQUEST'));
  });
});

describe('data-plane answers', () => {
  it('reads a scrub report from a storage server that predates reasons, and refuses a malformed one as corrupt', () => {
    const pack = 'ab'.repeat(32);
    assert.deepEqual(parseScrubReport({ packs: 3, bytes: 10, bad: [pack] }), {
      packs: 3,
      bytes: 10,
      bad: [pack],
      damaged: [{ pack, reason: 'damaged (this storage server does not say why)' }],
      damagedTotal: 1,
    });
    for (const bad of [null, { packs: 1, bytes: 1 }, { packs: 1, bytes: 1, bad: [], damaged: [{ pack }] }, { packs: 1, bytes: 1, bad: [], damaged: [], damagedTotal: -1 }])
      assert.throws(() => parseScrubReport(bad), (e: unknown) => e instanceof CairnError && e.code === 'E_CORRUPT');
  });

  it('round-trips a locate answer and refuses one of the wrong size or naming a pack it does not list', () => {
    const places = [{ pack: 'a'.repeat(64), offset: 5, length: 7 }, undefined, { pack: 'b'.repeat(64), offset: 0xfffffff0, length: 1 }];
    const answer = encodeLocateAnswer(places);
    assert.deepEqual(decodeLocateAnswer(answer, 3), places);
    assert.throws(() => decodeLocateAnswer(answer, 2), /malformed locate answer/);
    const wrongIndex = Buffer.from(answer);
    wrongIndex.writeUInt32BE(7, 4 + 2 * 32); // the first record names pack 7 of 2
    assert.throws(() => decodeLocateAnswer(wrongIndex, 3), /pack 7 of 2/);
  });
});

describe('pack upload answers', () => {
  it('reads {pack, stored} and refuses anything else', () => {
    assert.deepEqual(parsePackAnswer(JSON.stringify({ pack: hex, stored: true })), { name: hex, stored: true });
    assert.deepEqual(parsePackAnswer(JSON.stringify({ pack: hex, stored: false })), { name: hex, stored: false });
    for (const bad of ['', 'not json', '[]', 'null', JSON.stringify({ pack: hex }), JSON.stringify({ pack: 'AB'.repeat(32), stored: true }), JSON.stringify({ pack: hex.slice(2), stored: true }), JSON.stringify({ pack: hex, stored: 'yes' })])
      assert.equal(parsePackAnswer(bad), undefined, bad);
  });
});

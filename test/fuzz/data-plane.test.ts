// Fuzzing the storage data plane's parsing of outside input (issue 13 item 8), both directions:
// what a storage server reads from an agent (request lines, id lists, a vault's config, Range
// headers, Content-Length, a snapshot upload) and what an agent reads back (locate answers,
// snapshot lists and answers, scrub reports, error bodies). The blobs answer's frames are in
// formats.test.ts. Also the control calls a storage server takes (create a vault, replace its key
// file, scrub, delete a snapshot, gc, figures), on a real vault store in a temporary folder.
import assert from 'node:assert/strict';
import { randomBytes as cryptoRandom } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { checkChunkerParams, DEFAULT_CHUNKER } from '../../src/core/chunker.ts';
import { CairnError, isCairnError } from '../../src/core/errors.ts';
import { parseKeyFile } from '../../src/core/keys.ts';
import {
  decodeLocateAnswer,
  encodeLocateAnswer,
  matchRoute,
  parseCreateVaultRequest,
  parseErrorBody,
  parseRange,
  parseScrubReport,
  parseSnapshotAnswer,
  parseSnapshotList,
  snapshotUploadHeader,
  splitIds,
} from '../../src/protocol/data-plane.ts';
import { storageControlHandlers } from '../../src/storage/control-handlers.ts';
import { declaredLength } from '../../src/storage/http-io.ts';
import { SnapshotUploadParser } from '../../src/storage/snapshot-store.ts';
import type { Vault } from '../../src/storage/vault-store.ts';
import { VaultStore } from '../../src/storage/vault-store.ts';
import { placeholderVaultConfig } from '../support/storage-fixtures.ts';
import { bytesInputs, cutsArb, fuzzParser, inPieces, jsonInputs, parsesOrRefuses, textInputs } from './fuzz-kit.ts';

const hex = () => cryptoRandom(32).toString('hex');

describe('fuzzing what a storage server reads', () => {
  let store: VaultStore;
  let vault: Vault;
  before(async () => {
    store = new VaultStore(mkdtempSync(join(tmpdir(), 'cairn-fuzz-vaults-')));
    await store.init();
    await store.create('fuzz', placeholderVaultConfig);
    vault = await store.open('fuzz');
  });
  after(async () => {
    await store?.close();
  });

  it('a request line matches a route or is refused', async (t) => {
    const lines = [`/v1/vaults/photos/packs/${hex()}`, `/v1/vaults/a.b-c_d/snapshots/${hex()}/refs`, '/v1/vaults/x/blobs?x=1', '/v1/nettest', '/v1/vaults/%41b'];
    const methods = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'get', '');
    await fuzzParser(t, 'matchRoute', fc.tuple(methods, textInputs(lines)), ([method, url]) => matchRoute(method, url));
  });

  it('a malformed %-escape in a vault name is a bad request', () => {
    // the fuzzer's counterexample, then a cut UTF-8 sequence
    assert.throws(() => matchRoute('GET', '/v1/vaults/%\u00001b'), (e) => isCairnError(e, 'E_BAD_REQUEST') && /%-escape/.test(e.message));
    assert.throws(() => matchRoute('GET', '/v1/vaults/%E0%A4%A'), (e) => isCairnError(e, 'E_BAD_REQUEST') && /%-escape/.test(e.message));
    assert.throws(() => matchRoute('GET', `/v1/vaults/v/packs/%${'a'.repeat(63)}`), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  });

  it('id lists (missing, locate, blobs) split or are refused', async (t) => {
    const ids = Buffer.concat([cryptoRandom(32), cryptoRandom(32)]);
    await fuzzParser(t, 'splitIds', fc.tuple(bytesInputs([ids]), fc.constantFrom(1, 2, 4096)), ([body, max]) => splitIds(body, max, 'blobs'));
  });

  it('a create-vault body and its key file parse or are refused', async (t) => {
    const valid = [{ vault: 'photos', config: placeholderVaultConfig }];
    await fuzzParser(t, 'parseCreateVaultRequest', jsonInputs(valid), (v) => parseCreateVaultRequest(v));
    await fuzzParser(t, 'parseKeyFile', jsonInputs([placeholderVaultConfig.keyFile]), (v) => parseKeyFile(v));
    await fuzzParser(t, 'checkChunkerParams', jsonInputs([DEFAULT_CHUNKER]), (v) => checkChunkerParams(v));
  });

  it('a Range header parses, is unsatisfiable, or is refused', async (t) => {
    const headers = ['bytes=0-99', 'bytes=100-', 'bytes=-5', `bytes=0-${2 ** 53}`];
    await fuzzParser(t, 'parseRange', fc.tuple(textInputs(headers), fc.nat({ max: 64 * 1024 * 1024 })), ([h, size]) => parseRange(h, size));
  });

  it('a Content-Length parses or is refused, 2^31 as too large', async (t) => {
    const asRequest = (h: string) => ({ headers: { 'content-length': h } }) as unknown as IncomingMessage;
    await fuzzParser(t, 'declaredLength', textInputs(['0', '1048576', String(2 ** 31)]), (h) => declaredLength(asRequest(h), 1 << 20, 'body'));
    assert.throws(() => declaredLength(asRequest(String(2 ** 31)), 1 << 20, 'body'), (e) => isCairnError(e, 'E_TOO_LARGE'));
  });

  it('a snapshot upload in any cuts parses or is refused', async (t) => {
    const record = Buffer.from('sealed record bytes');
    const refs = [cryptoRandom(32), cryptoRandom(32)].sort(Buffer.compare);
    vault.index.addPack(hex(), 300, refs.map((id, i) => ({ type: 0, id, offset: 100 * i + 8, length: 60 })));
    const upload = Buffer.concat([snapshotUploadHeader(record.length), record, ...refs]);
    await fuzzParser(t, 'snapshot upload', fc.tuple(bytesInputs([upload]), cutsArb), ([bytes, cuts]) => {
      const parser = new SnapshotUploadParser(vault, (id) => new CairnError('E_BAD_REQUEST', `lacks ${id.toString('hex')}`));
      for (const piece of inPieces(bytes, cuts)) parser.update(piece);
      return parser.end();
    });
  });

  it('the control calls a storage server takes from the backup server are checked or refused', async (t) => {
    const calls = storageControlHandlers(store);
    const { keyFile } = placeholderVaultConfig;
    const valid: Record<string, unknown> = {
      createVault: { vault: 'photos', config: placeholderVaultConfig },
      replaceKeyFile: { vault: 'fuzz', keyFile },
      getVault: { vault: 'fuzz' },
      scrub: { vault: 'fuzz' },
      deleteSnapshot: { vault: 'fuzz', snapshot: hex() },
      gc: { confirm: 'code', run: 3 },
      figures: {},
    };
    for (const [method, params] of Object.entries(valid))
      await fuzzParser(t, `storage control ${method}`, jsonInputs([params]), (v) => calls[method]!(v), 300);
  });

  it('a snapshot record length of 2^31 is refused before allocating', async () => {
    const parser = new SnapshotUploadParser(vault, () => new CairnError('E_BAD_REQUEST', 'lacking'));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2 ** 31);
    await parsesOrRefuses((b: Buffer) => parser.update(b), header);
    assert.throws(() => new SnapshotUploadParser(vault, () => new CairnError('E_BAD_REQUEST', 'lacking')).update(header), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  });
});

describe('fuzzing what an agent reads back from a storage server', () => {
  it('a locate answer decodes or is refused', async (t) => {
    const answer = encodeLocateAnswer([{ pack: hex(), offset: 8, length: 100 }, undefined, { pack: hex(), offset: 200, length: 50 }]);
    await fuzzParser(t, 'decodeLocateAnswer', fc.tuple(bytesInputs([answer]), fc.constantFrom(0, 1, 3, 4)), ([body, count]) => decodeLocateAnswer(body, count));
  });

  it('a locate answer claiming 2^31 packs is refused before reading them', async () => {
    const answer = Buffer.alloc(16);
    answer.writeUInt32BE(2 ** 31, 0);
    await parsesOrRefuses((b: Buffer) => decodeLocateAnswer(b, 1), answer);
    assert.throws(() => decodeLocateAnswer(answer, 1), (e) => isCairnError(e, 'E_CORRUPT'));
  });

  it('JSON answers (snapshot list, snapshot, scrub report, error) parse or are refused', async (t) => {
    await fuzzParser(t, 'parseSnapshotList', jsonInputs([[hex(), hex()], []]), (v) => parseSnapshotList(v));
    await fuzzParser(t, 'parseSnapshotAnswer', jsonInputs([{ record: cryptoRandom(40).toString('base64') }]), (v) => parseSnapshotAnswer(v));
    const report = { packs: 3, bytes: 1000, bad: [hex()], damaged: [{ pack: hex(), reason: 'hash differs' }], damagedTotal: 1 };
    await fuzzParser(t, 'parseScrubReport', jsonInputs([report, { packs: 0, bytes: 0, bad: [] }]), (v) => parseScrubReport(v));
    await fuzzParser(t, 'parseErrorBody', jsonInputs([{ error: { code: 'E_NOT_FOUND', message: 'no such vault' } }]), (v) => parseErrorBody(v));
  });
});

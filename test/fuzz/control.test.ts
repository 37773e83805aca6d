// Fuzzing the control channel and the tokens parts hand each other (issue 13 item 8): received
// control frames, progress events, the params of every call an agent takes from the backup
// server, the index entries the server takes from an agent, a certificate renewal, enrollment
// tokens, run grants, the vault keys wrapped to an agent; and what a console reads back (the
// event stream, error answers). Each returns or throws a CairnError within 100 ms.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes as cryptoRandom, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkBackupParams } from '../../src/agent/run-backup.ts';
import { checkEstimateParams } from '../../src/agent/run-estimate.ts';
import { checkNetTestParams } from '../../src/agent/run-nettest.ts';
import { checkRebuildParams } from '../../src/agent/run-rebuild.ts';
import { checkRestoreParams } from '../../src/agent/run-restore.ts';
import { checkVerifyParams } from '../../src/agent/run-verify.ts';
import { generateAgentKeyPair, unwrapForAgent, wrapForAgent } from '../../src/core/agent-keys.ts';
import { isCairnError } from '../../src/core/errors.ts';
import { generateVaultKeys } from '../../src/core/keys.ts';
import { apiErrorOf } from '../../src/cli/api-client.ts';
import { EventStreamParser } from '../../src/cli/event-stream.ts';
import { checkBody } from '../../src/protocol/api-schema.ts';
import { type IndexEntryWire, parseFrame, progressData, renewCertificateSchema } from '../../src/protocol/control.ts';
import { createEnrollmentToken, parseEnrollmentToken, TOKEN_PREFIX } from '../../src/protocol/enrollment-token.ts';
import { type Grant, signGrant, verifyGrant } from '../../src/protocol/grant.ts';
import { wireEntry } from '../../src/server/snapshots.ts';
import { cutsArb, fuzzParser, inPieces, jsonInputs, parsesOrRefuses, textInputs } from './fuzz-kit.ts';

/** base64url of a JSON value's text (undefined, which JSON lacks, as the empty text) */
const base64urlJson = (v: unknown) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url');
const hex = () => cryptoRandom(32).toString('hex');

describe('fuzzing control frames and call params', () => {
  it('a received frame parses or is refused', async (t) => {
    const frames = [
      { t: 'hello', version: '0.1.0', address: '127.0.0.1', runs: [1, 2] },
      { t: 'welcome', name: 'a1' },
      { t: 'call', id: 7, method: 'backup', params: { run: 1 } },
      { t: 'reply', id: 7, result: { ok: true } },
      { t: 'reply', id: 8, error: { code: 'E_NOT_FOUND', message: 'no such run' } },
      { t: 'event', run: 3, kind: 'progress', data: { phase: 'reading', bytesRead: 10 } },
    ].map((f) => JSON.stringify(f));
    await fuzzParser(t, 'parseFrame', textInputs(frames), (text) => parseFrame(text));
  });

  it('a progress event keeps what it knows, whatever it is sent', async (t) => {
    const data = { phase: 'uploading', filesScanned: 3, bytesSent: 10, etaSeconds: null, currentPath: '/a' };
    await fuzzParser(t, 'progressData', jsonInputs([data]), (v) => progressData(v));
  });

  it('the params of each call to an agent are checked or refused', async (t) => {
    const storage = { name: 's1', url: 'https://127.0.0.1:7443' };
    const access = { storage, vault: 'admin.s1', grant: 'payload.signature', keys: 'ak1.abc' };
    const backup = { run: 1, job: 'j1', level: 'full', paths: ['/srv'], excludes: ['*.tmp'], ...access, forceRead: false, parent: hex(), bwlimit: 1000 };
    const { run: _run, ...estimate } = backup;
    const restore = { run: 2, snapshot: hex(), ...access, to: '/tmp/r', include: ['/srv/a'], conflict: 'rename', dryRun: true };
    const verify = { run: 3, snapshot: hex(), level: 'data', ...access, excludes: [] };
    const rebuild = { ...access, rebuild: 4 };
    const netTest = { storage, grant: 'payload.signature', bytes: 1 << 20 };
    await fuzzParser(t, 'checkBackupParams', jsonInputs([backup]), (v) => checkBackupParams(v));
    await fuzzParser(t, 'checkEstimateParams', jsonInputs([estimate]), (v) => checkEstimateParams(v));
    await fuzzParser(t, 'checkRestoreParams', jsonInputs([restore]), (v) => checkRestoreParams(v));
    await fuzzParser(t, 'checkVerifyParams', jsonInputs([verify]), (v) => checkVerifyParams(v));
    await fuzzParser(t, 'checkRebuildParams', jsonInputs([rebuild]), (v) => checkRebuildParams(v));
    await fuzzParser(t, 'checkNetTestParams', jsonInputs([netTest]), (v) => checkNetTestParams(v));
  });

  it('an index entry an agent sends the server is taken or refused', async (t) => {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const entries = [
      { dir: b64('/srv'), name: b64('a.txt'), type: 'file', size: 5, mtimeNs: '1700000000123456789', mode: 0o644, uid: 0, gid: 0 },
      { dir: b64('/srv'), name: b64('l'), type: 'symlink', size: 1, mtimeNs: '-5', target: b64('a.txt') },
    ];
    await fuzzParser(t, 'index entry (wireEntry)', jsonInputs(entries), (v) => wireEntry(v as IndexEntryWire));
  });

  it('a certificate renewal request is checked or refused', async (t) => {
    const renewal = { csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', hosts: ['127.0.0.1'] };
    await fuzzParser(t, 'renewCertificate params', jsonInputs([renewal]), (v) => checkBody(renewCertificateSchema, v));
  });

  it('a frame far over the size limit is refused at once', async () => {
    await parsesOrRefuses(parseFrame, `{"t":"reply","id":1,"result":"${'x'.repeat(9 * 1024 * 1024)}"}`);
    assert.throws(() => parseFrame(' '.repeat(9 * 1024 * 1024)), (e) => isCairnError(e, 'E_BAD_REQUEST') && /too large/.test(e.message));
  });
});

describe('fuzzing tokens, grants and wrapped keys', () => {
  it('a pasted enrollment token parses or is refused', async (t) => {
    const tokens = (['agent', 'storage'] as const).map(
      (kind) => createEnrollmentToken({ kind, id: `${kind}-1`, caFingerprint: hex(), server: 'https://backup.example:7443', ttlMs: 3600_000 }).token,
    );
    await fuzzParser(t, 'parseEnrollmentToken', textInputs(tokens), (text) => parseEnrollmentToken(text));
    // past the base64url layer: any JSON payload, and the valid one with fields changed
    const payload = JSON.parse(Buffer.from(tokens[0]!.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')) as unknown;
    await fuzzParser(t, 'enrollment token payload', jsonInputs([payload]), (v) => parseEnrollmentToken(TOKEN_PREFIX + base64urlJson(v)));
  });

  it('a presented grant verifies or is refused', async (t) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const grant: Grant = { agent: 'a1', cert: 'ab'.repeat(32), storage: 's1', vault: 'admin.s1', op: 'backup', run: '12', exp: Date.now() + 3600_000 };
    const grants = [signGrant(privateKey, grant), signGrant(privateKey, { ...grant, op: 'restore' })];
    const op = fc.constantFrom('backup', 'restore', 'nettest') as fc.Arbitrary<Grant['op']>;
    await fuzzParser(t, 'verifyGrant', fc.tuple(textInputs(grants), op), ([token, expected]) =>
      verifyGrant(publicKey, token, { vault: 'admin.s1', op: expected, storage: 's1' }),
    );
    // past the signature: payloads the server's key signed but that are not grants
    await fuzzParser(t, 'signed grant payload', jsonInputs([grant]), (v) => {
      const payload = base64urlJson(v);
      const signature = sign('sha256', Buffer.from(payload, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return verifyGrant(publicKey, `${payload}.${signature.toString('base64url')}`, { vault: 'admin.s1', op: 'backup' });
    }, 500);
  });

  it('vault keys wrapped to an agent open or are refused', async (t) => {
    const agent = generateAgentKeyPair();
    // the legacy form (ak1) and the one bound to a vault (ak2)
    const wrapped = [wrapForAgent(generateVaultKeys(), agent.publicKeyPem), wrapForAgent(generateVaultKeys(), agent.publicKeyPem, 'ab'.repeat(16))];
    await fuzzParser(t, 'unwrapForAgent', textInputs(wrapped), (text) => unwrapForAgent(text, agent.privateKeyPem), 500);
    for (const w of wrapped) {
      const prefix = w.slice(0, 4);
      const body = JSON.parse(Buffer.from(w.slice(4), 'base64url').toString('utf8')) as unknown;
      await fuzzParser(t, `wrapped keys payload (${prefix})`, jsonInputs([body]), (v) => unwrapForAgent(`${prefix}${base64urlJson(v)}`, agent.privateKeyPem), 500);
    }
  });

  it('wrapped keys whose payload is JSON null are refused as corrupt (finding)', () => {
    const agent = generateAgentKeyPair();
    for (const prefix of ['ak1.', 'ak2.'])
      for (const payload of ['null', '7', '"text"', '[]'])
        assert.throws(() => unwrapForAgent(`${prefix}${Buffer.from(payload).toString('base64url')}`, agent.privateKeyPem), (e) => isCairnError(e, 'E_CORRUPT'), payload);
  });
});

describe('fuzzing what a console reads from the backup server', () => {
  it('the event stream, in any cuts, gives events or drops frames', async (t) => {
    const stream = 'event: run\ndata: {"id":1,"status":"running"}\n\n: ping\n\nevent: progress\r\ndata: {"run":1,\ndata: "bytes":5}\n\n';
    await fuzzParser(t, 'event stream', fc.tuple(textInputs([stream]), cutsArb), ([text, cuts]) => {
      const parser = new EventStreamParser();
      return inPieces(text, cuts).flatMap((piece) => parser.push(piece));
    });
  });

  it('an error answer becomes a CairnError whatever its body', async (t) => {
    const body = JSON.stringify({ error: { code: 'E_NOT_FOUND', message: 'no job named j9' } });
    await fuzzParser(t, 'apiErrorOf', fc.tuple(fc.constantFrom(400, 404, 500, 502), textInputs([body])), ([status, text]) => {
      throw apiErrorOf(status, text, 'https://backup.example:7443');
    });
  });
});


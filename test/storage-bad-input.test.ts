// Bad input to a real storage server: each case gets a clear error (code and sentence) and
// leaves what the vault holds unchanged: truncated, bit-flipped and malformed packs, unknown ids,
// oversized and cut-off uploads, malformed JSON and names, wrong keys, untrusted or old TLS, and a
// second server on the same data directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { StorageClient } from '../src/agent/storage-client.ts';
import { generateSelfSignedIdentity } from '../src/core/certificates.ts';
import type { VaultConfig } from '../src/protocol/data-plane.ts';
import { randomPack, rawRequest, rejectsWith, sha256, testVaultConfig, vaultUnchangedBy } from './support/storage-fixtures.ts';
import { CAIRN_BIN, type StorageProcess, startStorage } from './support/storage-process.ts';

describe('bad input: a clear error and nothing stored changes', () => {
  let server: StorageProcess;
  let client: StorageClient;
  let config: VaultConfig;
  const vault = 'main';

  const unchangedBy = (action: () => Promise<unknown>) => vaultUnchangedBy(server, vault, action);

  before(async () => {
    server = await startStorage();
    client = await StorageClient.fromFiles(server);
    config = await testVaultConfig();
    await client.createVault(vault, config);
  });

  after(async () => {
    client?.close();
    if (server) assert.equal(await server.stop(), 0, `clean exit on SIGTERM; stderr: ${server.stderr()}`);
  });

  it('a truncated pack', async () => {
    const truncated = randomPack(4).bytes.subarray(0, -5);
    await unchangedBy(() =>
      rejectsWith(client.putPack(vault, sha256(truncated), [truncated], truncated.length), 'E_CORRUPT', /truncated/),
    );
  });

  it('a bit-flipped pack (bytes do not hash to the name)', async () => {
    const pack = randomPack(4);
    pack.bytes[pack.entries[1]!.offset + 10]! ^= 0x80;
    await unchangedBy(() =>
      rejectsWith(client.putPack(vault, pack.name, [pack.bytes], pack.size), 'E_CORRUPT', /hash to .* not to their name/),
    );
  });

  it('a pack with broken structure under its true SHA-256 name', async () => {
    const pack = randomPack(4);
    const indexRecord = pack.size - 12 - 4 * 41; // first index record
    pack.bytes.writeUInt32BE(pack.entries[0]!.offset + 1, indexRecord + 33);
    await unchangedBy(() =>
      rejectsWith(client.putPack(vault, sha256(pack.bytes), [pack.bytes], pack.size), 'E_CORRUPT', /index record 0/),
    );
  });

  it('an unknown chunk id in a blobs request (404 before any byte)', async () => {
    const pack = randomPack(2);
    await client.putPack(vault, pack.name, pack.buffers, pack.size);
    const unknown = randomBytes(32);
    await unchangedBy(async () => {
      const e = await rejectsWith(
        (async () => {
          for await (const _ of client.getBlobs(vault, [pack.blobs[0]!.id, unknown])) assert.fail('no blob may arrive');
        })(),
        'E_NOT_FOUND',
        /not in this vault/,
      );
      assert.match(e.message, new RegExp(unknown.toString('hex')));
    });
  });

  it('an oversized pack (declared, and streamed without a length)', async () => {
    const big = Buffer.alloc(65 * 1024 * 1024);
    await unchangedBy(() => rejectsWith(client.putPack(vault, sha256(big), [big], big.length), 'E_TOO_LARGE', /larger than/));
    // Chunked upload with no Content-Length: refused as soon as the bytes pass the limit.
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    await unchangedBy(async () => {
      const url = new URL(server.url);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({
          host: url.hostname,
          port: url.port,
          method: 'PUT',
          path: `/v1/vaults/${vault}/packs/${sha256(big)}`,
          headers: { authorization: `Bearer ${key}`, 'transfer-encoding': 'chunked' },
          ca: readFileSync(server.caFile, 'utf8'),
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        // A well-formed start (header, then one entry claiming 100 MiB) so only the size is wrong.
        const start = Buffer.alloc(8 + 41 + 1);
        start.write('CAIRNPK1BLOB', 'latin1');
        start.writeUInt32BE(100 * 1024 * 1024, 8 + 37);
        start[49] = 1;
        req.write(start);
        const piece = Buffer.alloc(1024 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 80 && req.write(piece)) sent++;
          if (sent < 80 && !req.destroyed) req.once('drain', pump);
          else req.end();
        };
        pump();
      });
      assert.equal(answer.status, 413);
      assert.match(answer.body, /E_TOO_LARGE/);
    });
  });

  it('an upload cut off mid-body', async () => {
    const pack = randomPack(20, 50_000);
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    const url = new URL(server.url);
    await unchangedBy(async () => {
      const req = request({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: `/v1/vaults/${vault}/packs/${pack.name}`,
        headers: { authorization: `Bearer ${key}`, 'content-length': pack.size },
        ca: readFileSync(server.caFile, 'utf8'),
      });
      req.on('error', () => undefined); // we cut it ourselves
      req.write(pack.bytes.subarray(0, pack.size / 2));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readdirSync(join(server.dataDir, 'vaults', vault, 'tmp')).length, 1, 'the upload is in progress');
      req.destroy();
      // The server notices the close and removes its temp file.
      for (let i = 0; i < 50 && readdirSync(join(server.dataDir, 'vaults', vault, 'tmp')).length > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
    });
    assert.deepEqual(await client.missing(vault, [pack.blobs[0]!.id]), [pack.blobs[0]!.id]);
  });

  it('a locate body that is not whole ids, or has too many', async () => {
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    await unchangedBy(async () => {
      const ragged = await rawRequest(server, { method: 'POST', path: `/v1/vaults/${vault}/locate`, key, body: Buffer.alloc(33) });
      assert.equal(ragged.status, 400);
      assert.match(ragged.body, /not a whole number of 32-byte ids/);
      const tooMany = await rawRequest(server, { method: 'POST', path: `/v1/vaults/${vault}/locate`, key, body: Buffer.alloc(32 * 65_537) });
      assert.equal(tooMany.status, 413);
      assert.match(tooMany.body, /locate of 2097184 bytes is larger than the limit/);
      const noVault = await rawRequest(server, { method: 'POST', path: '/v1/vaults/nosuch/locate', key, body: Buffer.alloc(32) });
      assert.equal(noVault.status, 404);
    });
  });

  it('a malformed JSON body and bad vault names', async () => {
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    const post = (path: string, body: string) =>
      rawRequest(server, { method: 'POST', path, key, body, headers: { 'content-type': 'application/json' } }).then((r) => ({ ...r, json: JSON.parse(r.body) }));
    const vaultsBefore = readdirSync(join(server.dataDir, 'vaults')).sort();
    const malformed = await post('/v1/vaults', '{"vault": "x", ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.error.code, 'E_BAD_REQUEST');
    assert.match(malformed.json.error.message, /not valid JSON/);
    await rejectsWith(client.createVault('../etc', config), 'E_BAD_REQUEST', /bad vault name/);
    const badName = await post('/v1/vaults', JSON.stringify({ vault: '.hidden', config }));
    assert.equal(badName.status, 400);
    assert.match(badName.json.error.message, /bad vault name/);
    const badPath = await post('/v1/vaults/-x/missing', '');
    assert.equal(badPath.status, 400);
    const badConfig = await post('/v1/vaults', JSON.stringify({ vault: 'ok', config: { ...config, chunker: { min: 1 } } }));
    assert.equal(badConfig.status, 400);
    assert.deepEqual(readdirSync(join(server.dataDir, 'vaults')).sort(), vaultsBefore);
  });

  it('a malformed %-escape in a path (a fuzzing finding: was a 500)', async () => {
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    await unchangedBy(async () => {
      for (const path of ['/v1/vaults/%E0%A4%A/missing', `/v1/vaults/${vault}/packs/%${'a'.repeat(63)}`]) {
        const r = await rawRequest(server, { method: path.endsWith('missing') ? 'POST' : 'GET', path, key, body: Buffer.alloc(0) });
        assert.equal(r.status, 400, r.body);
        assert.match(r.body, /"code":"E_BAD_REQUEST".*malformed %-escape in the path segment/);
      }
    });
  });

  it('a wrong or missing access key', async () => {
    const pack = randomPack(2);
    for (const accessKey of ['0'.repeat(64), 'short']) {
      const wrong = new StorageClient({ url: server.url, ca: readFileSync(server.caFile, 'utf8'), accessKey });
      await unchangedBy(() => rejectsWith(wrong.putPack(vault, pack.name, pack.buffers, pack.size), 'E_UNAUTHORIZED', /wrong access key/));
      await rejectsWith(wrong.listSnapshots(vault), 'E_UNAUTHORIZED', /wrong access key/);
      // A full 2 MiB id list sent without waiting: the answer still arrives.
      const ids = Array.from({ length: 65_536 }, () => pack.blobs[0]!.id);
      await rejectsWith(wrong.missing(vault, ids), 'E_UNAUTHORIZED', /wrong access key/);
      wrong.close();
    }
    const none = await rawRequest(server, { method: 'GET', path: `/v1/vaults/${vault}/snapshots` });
    assert.equal(none.status, 401);
    assert.match(none.body, /missing access key/);
  });

  it('a client that does not trust the server certificate', async () => {
    const stranger = await generateSelfSignedIdentity('someone else');
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    const untrusting = new StorageClient({ url: server.url, ca: stranger.certPem, accessKey: key });
    await rejectsWith(untrusting.listSnapshots(vault), 'E_UNAUTHORIZED', /certificate not trusted/);
    untrusting.close();
    const wrongPin = new StorageClient({ url: server.url, fingerprint: 'ab'.repeat(32), accessKey: key });
    await rejectsWith(wrongPin.listSnapshots(vault), 'E_UNAUTHORIZED', /fingerprint .* is not the pinned/);
    wrongPin.close();
    // TLS 1.2 is refused even by a client that trusts the certificate.
    const url = new URL(server.url);
    const tls12 = await new Promise<string>((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), maxVersion: 'TLSv1.2', ca: readFileSync(server.caFile) });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.match(tls12, /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|ECONNRESET/);
    const rightPin = new StorageClient({ url: server.url, fingerprint: server.fingerprint, accessKey: key });
    assert.ok(Array.isArray(await rightPin.listSnapshots(vault)));
    rightPin.close();
  });

  it('a second server on the same data directory', () => {
    const second = spawnSync(CAIRN_BIN, ['storage', 'start', '--data', server.dataDir, '--listen', '127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(second.status, 1);
    assert.equal(second.stdout, '');
    assert.match(second.stderr, new RegExp(`in use by storage process ${server.process.pid}`));
  });
});

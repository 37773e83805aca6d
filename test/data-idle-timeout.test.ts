// The data plane's idle timeout, shortened to IDLE ms (CAIRN_TEST_DATA_IDLE_MS), on both ends:
// the agent's StorageClient against a bare TLS peer that goes silent before or in the middle of
// its answer (E_UNAVAILABLE, "timed out … without data") or answers slowly but steadily (fine);
// a real storage server process that closes an upload gone silent and takes one that trickles in
// over several times the timeout.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { StorageClient } from '../src/agent/storage-client.ts';
import { isCairnError } from '../src/core/errors.ts';
import { paths } from '../src/protocol/data-plane.ts';
import { type BarePeer, startBarePeer } from './support/bare-storage-peer.ts';
import { randomPack, testVaultConfig } from './support/storage-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const IDLE = 400;
// read at each request by the client here and at start by the storage server child (it inherits the environment)
process.env.CAIRN_TEST = '1';
process.env.CAIRN_TEST_DATA_IDLE_MS = String(IDLE);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('data-plane idle timeout: the agent’s client', () => {
  let peer: BarePeer;
  let client: StorageClient;
  let behave: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  let configJson: Buffer;

  before(async () => {
    peer = await startBarePeer((rq, rs) => void behave(rq, rs));
    client = peer.client;
    configJson = Buffer.from(JSON.stringify(await testVaultConfig()));
  });

  after(() => peer.close());

  const timedOut = (e: unknown) => isCairnError(e, 'E_UNAVAILABLE') && /timed out after 400 ms without data/.test(e.message);

  it('fails a request the server never answers', async () => {
    behave = async () => {}; // silence
    const started = performance.now();
    await assert.rejects(client.getVault('home'), timedOut);
    assert.ok(performance.now() - started >= IDLE - 50);
  });

  it('fails an answer that stops in the middle', async () => {
    behave = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': configJson.length });
      res.write(configJson.subarray(0, 10));
    };
    await assert.rejects(client.getVault('home'), timedOut);
  });

  it('takes an answer that trickles in over several times the timeout', async () => {
    behave = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': configJson.length });
      const step = Math.ceil(configJson.length / 12);
      for (let at = 0; at < configJson.length; at += step) {
        res.write(configJson.subarray(at, at + step));
        await sleep(IDLE / 4);
      }
      res.end();
    };
    const started = performance.now();
    assert.deepEqual(await client.getVault('home'), JSON.parse(configJson.toString()));
    assert.ok(performance.now() - started > 2 * IDLE, 'it did take longer than the timeout');
  });
});

describe('data-plane idle timeout: the storage server', () => {
  let storage: StorageProcess;
  let key: string;
  const vault = 'home';

  before(async () => {
    storage = await startStorage();
    key = readFileSync(storage.accessKeyFile, 'utf8').trim();
    const admin = await StorageClient.fromFiles(storage);
    await admin.createVault(vault, await testVaultConfig());
    admin.close();
  });

  after(async () => {
    if (storage) assert.equal(await storage.stop(), 0, `stderr: ${storage.stderr()}`);
  });

  /** A pack upload whose body is written in `pieces` parts `gapMs` apart, stopping after `stopAfter` parts. */
  function upload(gapMs: number, o: { stopAfter?: number } = {}) {
    const pack = randomPack(4);
    const url = new URL(storage.url);
    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'PUT',
      path: paths.pack(vault, pack.name),
      ca: readFileSync(storage.caFile, 'utf8'),
      headers: { authorization: `Bearer ${key}`, 'content-length': pack.size, 'content-type': 'application/octet-stream' },
    });
    const answer = new Promise<{ status: number } | { closed: string }>((resolve) => {
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode! });
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ closed: e.code ?? e.message }));
    });
    void (async () => {
      const pieces = 10;
      const step = Math.ceil(pack.bytes.length / pieces);
      for (let i = 0; i < pieces; i++) {
        if (o.stopAfter !== undefined && i >= o.stopAfter) return; // goes silent, the connection left open
        req.write(pack.bytes.subarray(i * step, (i + 1) * step));
        await sleep(gapMs);
      }
      req.end();
    })();
    return answer;
  }

  it('closes an upload that goes silent', async () => {
    const started = performance.now();
    const answer = await upload(10, { stopAfter: 3 });
    assert.ok('closed' in answer, JSON.stringify(answer));
    assert.ok(performance.now() - started >= IDLE - 50);
  });

  it('stores an upload that keeps sending for several times the timeout', async () => {
    const started = performance.now();
    assert.deepEqual(await upload(IDLE / 4), { status: 201 });
    assert.ok(performance.now() - started > 2 * IDLE);
  });
});

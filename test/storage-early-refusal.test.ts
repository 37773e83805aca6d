// An early refusal whose reason is lost: the agent's StorageClient against a bare TLS peer that
// refuses a snapshot upload before `100 Continue` (nothing of the body sent) and cuts its error
// answer short. Nothing was done, so the client asks once more and reports the reason the second
// answer gives; a request whose body was already on its way is never sent twice.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { StorageClient } from '../src/agent/storage-client.ts';
import { isCairnError } from '../src/core/errors.ts';
import { type BarePeer, startBarePeer } from './support/bare-storage-peer.ts';
import { testVaultConfig } from './support/storage-fixtures.ts';

const conflict = Buffer.from(JSON.stringify({ error: { code: 'E_CONFLICT', message: 'snapshot abc already exists' } }));

describe('an early refusal whose answer is cut short', () => {
  let peer: BarePeer;
  let client: StorageClient;
  /** per request: whether the peer cuts its answer short; what each request brought */
  let cut: boolean[];
  let seen: { method: string; bodyBytes: number }[];

  const refuse = (req: IncomingMessage, res: ServerResponse) => {
    const entry = { method: req.method ?? '', bodyBytes: 0 };
    seen.push(entry);
    req.on('data', (d: Buffer) => (entry.bodyBytes += d.length));
    res.writeHead(409, { 'content-type': 'application/json', 'content-length': conflict.length });
    if (cut[seen.length - 1]) {
      res.write(conflict.subarray(0, 5)); // then the connection is gone
      setTimeout(() => res.socket?.destroy(), 20);
    } else res.end(conflict);
  };

  before(async () => {
    peer = await startBarePeer(refuse); // never sends 100 Continue: no body comes
    client = peer.client;
  });

  after(() => peer.close());

  const snapshot = () => client.putSnapshot('home', 'a'.repeat(64), Buffer.alloc(300, 7), Buffer.alloc(64, 1));

  it('asks once more and reports the reason the second answer gives', async () => {
    cut = [true, false];
    seen = [];
    await assert.rejects(snapshot(), (e) => isCairnError(e, 'E_CONFLICT') && /already exists/.test(e.message));
    assert.deepEqual(seen, [
      { method: 'PUT', bodyBytes: 0 },
      { method: 'PUT', bodyBytes: 0 },
    ]);
  });

  it('asks only once more: a second lost answer reports the status alone', async () => {
    cut = [true, true, true];
    seen = [];
    await assert.rejects(snapshot(), (e) => isCairnError(e, 'E_BAD_REQUEST') && /answered 409/.test(e.message));
    assert.equal(seen.length, 2);
  });

  it('never sends twice a request whose body was on its way', async () => {
    cut = [true, false];
    seen = [];
    await assert.rejects(client.createVault('home', await testVaultConfig()), (e) => isCairnError(e, 'E_BAD_REQUEST') && /answered 409/.test(e.message));
    assert.equal(seen.length, 1);
  });
});

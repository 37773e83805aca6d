// The restore's own blobs connections (src/agent/blob-wire.ts): against a real storage server
// process, the same blobs as the https client in the same order, several requests over kept
// connections, the server's refusals with its reasons, a reader that stops early; against a
// bare TLS peer, what a real server never does: an answer cut short, longer than it said, with a
// blob not asked for, silence (the idle timeout), a kept connection closed as it is reused, and
// a certificate that is not the expected part's.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { BlobWires } from '../src/agent/blob-wire.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { isCairnError } from '../src/core/errors.ts';
import { BLOB_FRAME_HEADER, ID_SIZE } from '../src/protocol/data-plane.ts';
import { type BarePeer, startBarePeer } from './support/bare-storage-peer.ts';
import { randomPack, rejectsWith, testVaultConfig } from './support/storage-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const IDLE = 400;
process.env.CAIRN_TEST = '1';
process.env.CAIRN_TEST_DATA_IDLE_MS = String(IDLE);

async function all(blobs: AsyncIterable<{ id: Buffer; sealed: Buffer }>): Promise<{ id: Buffer; sealed: Buffer }[]> {
  const out: { id: Buffer; sealed: Buffer }[] = [];
  for await (const b of blobs) out.push({ id: Buffer.from(b.id), sealed: Buffer.from(b.sealed) });
  return out;
}

describe('blob wires against a storage server', () => {
  let server: StorageProcess;
  let client: StorageClient;
  let wires: BlobWires;
  const vault = 'main';
  let small: ReturnType<typeof randomPack>;
  let large: ReturnType<typeof randomPack>;

  before(async () => {
    // the data idle timeout above is for the bare peer; the real server keeps its own
    server = await startStorage({ env: { CAIRN_TEST_DATA_IDLE_MS: '60000' } });
    client = await StorageClient.fromFiles(server);
    wires = new BlobWires(client);
    await client.createVault(vault, await testVaultConfig());
    small = randomPack(5000, 50); // many frames inside each 16 KiB read
    large = randomPack(12, 300 * 1024); // frames spanning many reads
    await client.putPack(vault, small.name, small.buffers, small.size);
    await client.putPack(vault, large.name, large.buffers, large.size);
  });

  after(async () => {
    wires?.close();
    client?.close();
    if (server) assert.equal(await server.stop(), 0, `clean exit on SIGTERM; stderr: ${server.stderr()}`);
  });

  it('answers what the https client answers, in the same order, over more than one request', async () => {
    // 5,012 ids: two requests (4,096 per request), asked out of pack order
    const ids = [...large.blobs, ...small.blobs].map((b) => b.id).reverse();
    const direct = wires.directBytes;
    const viaWire = await all(wires.getBlobs(vault, ids));
    const viaHttps = await all(client.getBlobs(vault, ids));
    // the large blobs were read mostly straight into their own buffers, not copied from the read buffer
    const largeBytes = large.blobs.reduce((n, b) => n + b.sealed.length, 0);
    assert.ok(wires.directBytes - direct > largeBytes * 0.8, `${wires.directBytes - direct} of ${largeBytes} bytes read straight in`);
    assert.equal(viaWire.length, ids.length);
    assert.deepEqual(viaWire, viaHttps);
    const want = new Map([...small.blobs, ...large.blobs].map((b) => [b.id.toString('hex'), b.sealed]));
    for (const b of viaWire) assert.ok(b.sealed.equals(want.get(b.id.toString('hex'))!), 'blob bytes differ');
  });

  it('keeps its connections for the next requests', async () => {
    const before = wires.opened;
    for (let i = 0; i < 5; i++) assert.equal((await all(wires.getBlobs(vault, [large.blobs[i]!.id]))).length, 1);
    assert.ok(wires.opened - before <= 1, `opened ${wires.opened - before} connections for 5 requests in a row`);
  });

  it('gives the server’s refusal with its reason, and the next request still works', async () => {
    const unknown = randomBytes(32);
    await rejectsWith(all(wires.getBlobs(vault, [small.blobs[0]!.id, unknown])), 'E_NOT_FOUND', new RegExp(`chunk ${unknown.toString('hex')} is not in this vault`));
    await rejectsWith(all(wires.getBlobs('nosuch', [unknown])), 'E_NOT_FOUND', /no vault named nosuch/);
    assert.equal((await all(wires.getBlobs(vault, [small.blobs[1]!.id]))).length, 1);
  });

  it('lets a reader stop early, and answers the next request whole', async () => {
    const ids = small.blobs.map((b) => b.id);
    for await (const _ of wires.getBlobs(vault, ids)) break;
    const again = await all(wires.getBlobs(vault, ids.slice(0, 100)));
    assert.equal(again.length, 100);
    assert.ok(again.every((b, i) => b.sealed.equals(small.blobs[i]!.sealed)));
  });

  it('opens connections ahead when warmed, and the first requests use them', async () => {
    const warmed = new BlobWires(client);
    try {
      warmed.warm(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(warmed.opened, 2, 'opened before any request');
      const [a, b] = await Promise.all([all(warmed.getBlobs(vault, [small.blobs[0]!.id])), all(warmed.getBlobs(vault, [large.blobs[0]!.id]))]);
      assert.ok(a[0]!.sealed.equals(small.blobs[0]!.sealed) && b[0]!.sealed.equals(large.blobs[0]!.sealed));
      assert.equal(warmed.opened, 2, 'both requests went over the connections opened ahead');
    } finally {
      warmed.close();
    }
  });

  it('refuses a wrong access key with the server’s reason', async () => {
    const wrong = new StorageClient({ url: server.url, ca: client.workerOptions().ca, accessKey: 'f'.repeat(64) });
    const wrongWires = new BlobWires(wrong);
    try {
      await rejectsWith(all(wrongWires.getBlobs(vault, [small.blobs[0]!.id])), 'E_UNAUTHORIZED', /wrong access key/);
    } finally {
      wrongWires.close();
      wrong.close();
    }
  });
});

describe('blob wires against a peer that misbehaves', () => {
  let peer: BarePeer;
  let wires: BlobWires;
  let behave: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
  const frame = (id: Buffer, sealed: Buffer) => {
    const header = Buffer.alloc(BLOB_FRAME_HEADER);
    id.copy(header);
    header.writeUInt32BE(sealed.length, ID_SIZE);
    return Buffer.concat([header, sealed]);
  };

  before(async () => {
    peer = await startBarePeer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c)).on('end', () => behave(req, res, Buffer.concat(parts)));
    });
    wires = new BlobWires(peer.client);
  });

  after(async () => {
    wires?.close();
    await peer?.close();
  });

  const ids = [randomBytes(32), randomBytes(32)];
  const sealed = [randomBytes(100), randomBytes(70_000)];
  const answer = Buffer.concat([frame(ids[0]!, sealed[0]!), frame(ids[1]!, sealed[1]!)]);

  it('reads a well-formed answer, sent in pieces (the grant on the request)', async () => {
    let grant: string | undefined;
    behave = (req, res) => {
      grant = req.headers['cairn-grant'] as string;
      res.writeHead(200, { 'content-length': answer.length });
      for (let at = 0; at < answer.length; at += 777) res.write(answer.subarray(at, at + 777));
      res.end();
    };
    const got = await all(wires.getBlobs('v', ids));
    assert.equal(grant, 'grant');
    assert.deepEqual(got, [
      { id: ids[0], sealed: sealed[0] },
      { id: ids[1], sealed: sealed[1] },
    ]);
  });

  it('fails an answer cut short', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'content-length': answer.length });
      res.write(answer.subarray(0, 5000));
      setTimeout(() => res.destroy(), 50);
    };
    await rejectsWith(all(wires.getBlobs('v', ids)), 'E_UNAVAILABLE', /blobs answer cut short/);
  });

  it('fails an answer that holds fewer blobs than asked', async () => {
    behave = (_req, res) => {
      const one = frame(ids[0]!, sealed[0]!);
      res.writeHead(200, { 'content-length': one.length });
      res.end(one);
    };
    await rejectsWith(all(wires.getBlobs('v', ids)), 'E_CORRUPT', /ended after 1 of 2 blobs/);
  });

  it('fails an answer naming a blob not asked for', async () => {
    behave = (_req, res) => {
      const other = frame(randomBytes(32), sealed[0]!);
      res.writeHead(200, { 'content-length': other.length });
      res.end(other);
    };
    await rejectsWith(all(wires.getBlobs('v', ids)), 'E_CORRUPT', /which was not asked for/);
  });

  it('fails an answer longer than its length', async () => {
    behave = (req, res) => {
      // written by hand: Node's server would refuse to send more than it announced
      req.socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n`), answer]));
      res.destroy();
    };
    await rejectsWith(all(wires.getBlobs('v', ids)), 'E_CORRUPT', /longer than it said/);
  });

  it('fails an answer without a length', async () => {
    behave = (_req, res) => {
      res.writeHead(200); // chunked
      res.end(answer);
    };
    await rejectsWith(all(wires.getBlobs('v', ids)), 'E_CORRUPT', /without a length/);
  });

  it('times out a peer gone silent in the middle of an answer', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'content-length': answer.length });
      res.write(answer.subarray(0, 100));
    };
    const started = performance.now();
    await assert.rejects(all(wires.getBlobs('v', ids)), (e: unknown) => isCairnError(e, 'E_UNAVAILABLE') && /timed out after 400 ms without data/.test(e.message));
    assert.ok(performance.now() - started >= IDLE - 50);
  });

  it('reads the next answer on a connection whose last answer ended while its reader was behind', async () => {
    // the middle blob fills the reader's queue (reading stops) in the same TLS record that ends the
    // answer: the connection goes back to be reused, and must read again for the next answer
    const three = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const bodies = [randomBytes(100), randomBytes(1_100_000), randomBytes(20_000)];
    const whole = Buffer.concat(three.map((id, i) => frame(id, bodies[i]!)));
    behave = (_req, res) => {
      res.writeHead(200, { 'content-length': whole.length });
      res.end(whole);
    };
    let n = 0;
    for await (const b of wires.getBlobs('v', three)) {
      assert.ok(b.sealed.equals(bodies[n]!));
      if (n++ === 0) await new Promise((resolve) => setTimeout(resolve, 200)); // behind while the rest arrives
    }
    assert.equal(n, 3);
    const opened = wires.opened;
    assert.equal((await all(wires.getBlobs('v', three))).length, 3);
    assert.equal(wires.opened, opened, 'the kept connection answered');
  });

  it('asks again on a new connection when a kept one was closed as it was reused', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'content-length': answer.length });
      res.end(answer);
    };
    await all(wires.getBlobs('v', ids));
    const opened = wires.opened;
    // the peer ends the kept connection as the next request comes in, without a byte of answer
    let closedOne = false;
    peer.server.once('request', (req: IncomingMessage) => {
      closedOne = true;
      req.socket.destroy();
    });
    const got = await all(wires.getBlobs('v', ids));
    assert.ok(closedOne);
    assert.deepEqual(got, [
      { id: ids[0], sealed: sealed[0] },
      { id: ids[1], sealed: sealed[1] },
    ]);
    assert.equal(wires.opened, opened + 1, 'one new connection for the request asked again');
  });

  it('replaces a connection opened ahead that the peer closed while it waited', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'content-length': answer.length });
      res.end(answer);
    };
    const warmed = new BlobWires(peer.client);
    try {
      const closed = new Promise<void>((resolve) => peer.server.once('secureConnection', (socket) => socket.once('close', () => resolve()).destroy()));
      warmed.warm(1);
      await closed;
      const got = await all(warmed.getBlobs('v', ids));
      assert.deepEqual(got, [
        { id: ids[0], sealed: sealed[0] },
        { id: ids[1], sealed: sealed[1] },
      ]);
      assert.equal(warmed.opened, 2, 'the closed one was not used: a new one answered');
    } finally {
      warmed.close();
    }
  });

  it('refuses a peer whose certificate is not the expected part’s', async () => {
    const other = new StorageClient({
      url: `https://127.0.0.1:${(peer.server.address() as { port: number }).port}`,
      ca: peer.client.workerOptions().ca,
      expect: { kind: 'storage', name: 'other-nas' },
      grant: () => 'grant',
    });
    const otherWires = new BlobWires(other);
    otherWires.warm(1); // a handshake refused ahead: the request reports it
    let asked = false;
    behave = (_req, res) => {
      asked = true;
      res.writeHead(500).end();
    };
    try {
      await rejectsWith(all(otherWires.getBlobs('v', ids)), 'E_UNAUTHORIZED', /cairn-storage:nas, expected cairn-storage:other-nas/);
      assert.equal(asked, false, 'nothing may be sent to a peer that is not the expected part');
    } finally {
      otherWires.close();
      other.close();
    }
  });
});

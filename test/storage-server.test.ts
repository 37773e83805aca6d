// The storage server as a real process over real TLS: packs in and blobs out byte-identical,
// ranges, snapshots, scrub, a clean stop and a restart from the same data directory.
// (Refused input: storage-bad-input.test.ts.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StorageClient } from '../src/agent/storage-client.ts';
import { PackBuilder } from '../src/core/pack.ts';
import type { VaultConfig } from '../src/protocol/data-plane.ts';
import { randomPack, rejectsWith, testVaultConfig, vaultUnchangedBy } from './support/storage-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

async function drain(blobs: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of blobs);
}

describe('storage server over TLS', () => {
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

  it('prints its URL and fingerprint and keeps the access key private', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.fingerprint, /^[0-9a-f]{64}$/);
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(spawnSync('stat', ['-c', '%a', server.accessKeyFile]).stdout.toString().trim(), '600');
  });

  it('creates a vault once and returns its config', async () => {
    assert.deepEqual(await client.getVault(vault), config);
    await rejectsWith(client.createVault(vault, config), 'E_CONFLICT', /already exists/);
    await rejectsWith(client.getVault('nosuch'), 'E_NOT_FOUND', /no vault named nosuch/);
  });

  it('stores a pack, answers missing before and after, and serves blobs and ranges back identical', async () => {
    const pack = randomPack(50);
    const ids = pack.blobs.map((b) => b.id);
    assert.deepEqual(await client.missing(vault, ids), ids);
    assert.equal(await client.putPack(vault, pack.name, pack.buffers, pack.size), true);
    const unknown = randomBytes(32);
    assert.deepEqual(await client.missing(vault, [...ids, unknown, ids[0]!]), [unknown]);
    // Re-upload: a no-op.
    await unchangedBy(async () => assert.equal(await client.putPack(vault, pack.name, pack.buffers, pack.size), false));

    // asked for backwards, answered in the order they lie in the pack
    const asked = [...pack.blobs].reverse();
    const got: { id: Buffer; sealed: Buffer }[] = [];
    for await (const b of client.getBlobs(vault, asked.map((b) => b.id))) got.push(b);
    assert.equal(got.length, pack.blobs.length);
    got.forEach((b, i) => {
      assert.ok(b.id.equals(pack.blobs[i]!.id), `blob ${i} out of pack order`);
      assert.ok(b.sealed.equals(pack.blobs[i]!.sealed), `blob ${i} differs`);
    });

    // locate: each id's pack, offset and sealed length, in the order asked; unknown ids absent
    const places = await client.locate(vault, [ids[3]!, unknown, ids[0]!]);
    assert.deepEqual(places, [
      { pack: pack.name, offset: pack.entries[3]!.offset, length: pack.entries[3]!.length },
      undefined,
      { pack: pack.name, offset: pack.entries[0]!.offset, length: pack.entries[0]!.length },
    ]);

    const entry = pack.entries[7]!;
    const range = await client.getPackRange(vault, pack.name, entry.offset, entry.offset + entry.length);
    assert.ok(range.equals(pack.blobs[7]!.sealed));
    assert.ok((await client.getPackRange(vault, pack.name, 0, pack.size)).equals(pack.bytes));
  });

  it('answers a 65,536-id missing query and more than one blobs batch', async () => {
    const pack = randomPack(5000, 50);
    await client.putPack(vault, pack.name, pack.buffers, pack.size);
    const ids = [...pack.blobs.map((b) => b.id), ...Array.from({ length: 70_000 }, () => randomBytes(32))];
    const missing = await client.missing(vault, ids);
    assert.equal(missing.length, 70_000);
    assert.ok(missing[0]!.equals(ids[5000]!));
    let n = 0;
    for await (const b of client.getBlobs(vault, pack.blobs.map((x) => x.id))) {
      assert.ok(b.sealed.equals(pack.blobs[n]!.sealed));
      n++;
    }
    assert.equal(n, 5000);
  });

  it('stores, lists and returns snapshots, and refuses refs naming chunks it lacks', async () => {
    const pack = randomPack(5);
    await client.putPack(vault, pack.name, pack.buffers, pack.size);
    const refs = Buffer.concat(pack.blobs.map((b) => b.id).sort(Buffer.compare));
    const id = randomBytes(32).toString('hex');
    const record = randomBytes(300);
    await client.putSnapshot(vault, id, record, refs);
    assert.ok((await client.listSnapshots(vault)).includes(id));
    assert.ok((await client.getSnapshot(vault, id)).equals(record));
    assert.ok((await client.getSnapshotRefs(vault, id)).equals(refs));
    await rejectsWith(client.putSnapshot(vault, id, record, refs), 'E_CONFLICT', /already exists/);
    await rejectsWith(client.getSnapshot(vault, 'a'.repeat(64)), 'E_NOT_FOUND', /no snapshot/);

    const other = randomBytes(32).toString('hex');
    const withUnknown = Buffer.concat([refs, Buffer.alloc(32, 0xff)]);
    await unchangedBy(() => rejectsWith(client.putSnapshot(vault, other, record, withUnknown), 'E_BAD_REQUEST', /does not hold/));
    const unsorted = Buffer.concat([refs.subarray(32, 64), refs.subarray(0, 32)]);
    await unchangedBy(() => rejectsWith(client.putSnapshot(vault, other, record, unsorted), 'E_BAD_REQUEST', /sorted/));
    assert.ok(!(await client.listSnapshots(vault)).includes(other));
  });

  it('treats the chunks of a pack whose file is lost as missing, until a new pack carries them', async () => {
    await client.createVault('lossy', config);
    const kept = randomPack(2);
    const lost = randomPack(3);
    await client.putPack('lossy', kept.name, kept.buffers, kept.size);
    await client.putPack('lossy', lost.name, lost.buffers, lost.size);
    const lostIds = lost.blobs.map((b) => b.id);
    const all = [kept.blobs[0]!.id, ...lostIds];
    unlinkSync(join(server.dataDir, 'vaults', 'lossy', 'packs', lost.name.slice(0, 2), lost.name));

    assert.deepEqual(await client.missing('lossy', all), lostIds);
    const places = await client.locate('lossy', all);
    assert.equal(places[0]?.pack, kept.name);
    assert.deepEqual(places.slice(1), [undefined, undefined, undefined]);
    // blobs refuses the whole request before a byte, naming the first chunk it cannot serve
    const refused = await rejectsWith(drain(client.getBlobs('lossy', all)), 'E_NOT_FOUND', new RegExp(lostIds[0]!.toString('hex')));
    assert.match(refused.message, new RegExp(`its pack ${lost.name} is indexed but its file is missing`));

    // a backup sends them again in another pack (other sealed bytes, so another name): it takes over
    const builder = new PackBuilder();
    const resealed = lost.blobs.map((b) => ({ id: b.id, sealed: Buffer.concat([b.sealed, Buffer.from('again')]) }));
    for (const b of resealed) builder.add(0, b.id, b.sealed);
    const again = builder.finish();
    assert.equal(await client.putPack('lossy', again.name, again.buffers, again.size), true);
    assert.deepEqual(await client.missing('lossy', all), []);
    const got = new Map<string, Buffer>();
    for await (const b of client.getBlobs('lossy', lostIds)) got.set(b.id.toString('hex'), b.sealed);
    for (const b of resealed) assert.ok(got.get(b.id.toString('hex'))?.equals(b.sealed));

    // the same lost pack uploaded again is stored again, not answered "already stored"
    assert.equal(await client.putPack('lossy', lost.name, lost.buffers, lost.size), true);
    assert.ok(existsSync(join(server.dataDir, 'vaults', 'lossy', 'packs', lost.name.slice(0, 2), lost.name)));
  });

  it('scrub re-hashes every pack and names one with a flipped byte', async () => {
    await client.createVault('scrubbed', config);
    const a = randomPack(3);
    const b = randomPack(3);
    await client.putPack('scrubbed', a.name, a.buffers, a.size);
    await client.putPack('scrubbed', b.name, b.buffers, b.size);
    assert.deepEqual(await client.scrub('scrubbed'), { packs: 2, bytes: a.size + b.size, bad: [], damaged: [], damagedTotal: 0 });
    const path = join(server.dataDir, 'vaults', 'scrubbed', 'packs', b.name.slice(0, 2), b.name);
    const bytes = readFileSync(path);
    bytes[100]! ^= 0x01;
    writeFileSync(path, bytes);
    assert.deepEqual(await client.scrub('scrubbed'), {
      packs: 2,
      bytes: a.size + b.size,
      bad: [b.name],
      damaged: [{ pack: b.name, reason: `content does not match its name (SHA-256 ${createHash('sha256').update(bytes).digest('hex')})` }],
      damagedTotal: 1,
    });
  });
});

describe('storage server restart', () => {
  it('reuses its identity, key, address and data', async () => {
    const first = await startStorage();
    const client = await StorageClient.fromFiles(first);
    await client.createVault('v', await testVaultConfig());
    const pack = randomPack(3);
    await client.putPack('v', pack.name, pack.buffers, pack.size);
    client.close();
    assert.equal(await first.stop(), 0);

    const again = await startStorage({ dataDir: first.dataDir, listen: null });
    try {
      assert.equal(again.fingerprint, first.fingerprint);
      assert.equal(again.url, first.url.replace(/:\d+$/, again.url.slice(again.url.lastIndexOf(':'))));
      const c2 = await StorageClient.fromFiles(again);
      assert.deepEqual(await c2.missing('v', pack.blobs.map((b) => b.id)), []);
      for await (const b of c2.getBlobs('v', [pack.blobs[2]!.id])) assert.ok(b.sealed.equals(pack.blobs[2]!.sealed));
      c2.close();
    } finally {
      assert.equal(await again.stop(), 0);
    }
  });
});

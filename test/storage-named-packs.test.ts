// Packs the storage server names (POST …/packs, what agents send since issue 15 so they need not
// hash packs) next to packs the uploader names (PUT …/packs/:name, what earlier agents sent and
// what vaults written before hold): both end up under the SHA-256 of their bytes, both read back
// the same, and a bad POST leaves the vault as it was.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StorageClient } from '../src/agent/storage-client.ts';
import { randomPack, rejectsWith, sha256, testVaultConfig, vaultState, vaultUnchangedBy } from './support/storage-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

describe('server-named packs', () => {
  let server: StorageProcess;
  let client: StorageClient;
  const vault = 'main';

  const unchangedBy = (action: () => Promise<unknown>) => vaultUnchangedBy(server, vault, action);

  async function readBack(pack: ReturnType<typeof randomPack>, name: string): Promise<void> {
    const places = await client.locate(vault, pack.blobs.map((b) => b.id));
    assert.deepEqual(places.map((p) => p?.pack), pack.blobs.map(() => name));
    const got: Buffer[] = [];
    for await (const blob of client.getBlobs(vault, pack.blobs.map((b) => b.id))) got.push(Buffer.from(blob.sealed));
    assert.deepEqual(got, pack.blobs.map((b) => b.sealed));
    assert.deepEqual(await client.getPackRange(vault, name, 0, pack.size), pack.bytes);
  }

  before(async () => {
    server = await startStorage();
    client = await StorageClient.fromFiles(server);
    await client.createVault(vault, await testVaultConfig());
  });

  after(async () => {
    client?.close();
    if (server) assert.equal(await server.stop(), 0, `clean exit on SIGTERM; stderr: ${server.stderr()}`);
  });

  it('names a posted pack by the SHA-256 of its bytes; the same bytes again store nothing', async () => {
    const pack = randomPack(5);
    const answer = await client.postPack(vault, pack.buffers, pack.size);
    assert.deepEqual(answer, { name: sha256(pack.bytes), stored: true });
    await readBack(pack, answer.name);
    await unchangedBy(async () => assert.deepEqual(await client.postPack(vault, [pack.bytes], pack.size), { name: answer.name, stored: false }));
  });

  it('a pack named by its uploader (as earlier agents and vaults have them) reads back the same, and posting it stores nothing', async () => {
    const pack = randomPack(3);
    assert.equal(await client.putPack(vault, pack.name, pack.buffers, pack.size), true);
    await readBack(pack, pack.name);
    await unchangedBy(async () => assert.deepEqual(await client.postPack(vault, pack.buffers, pack.size), { name: pack.name, stored: false }));
  });

  it('a truncated or malformed posted pack is refused and leaves no file behind', async () => {
    const truncated = randomPack(4).bytes.subarray(0, -5);
    await unchangedBy(() => rejectsWith(client.postPack(vault, [truncated], truncated.length), 'E_CORRUPT', /truncated/));
    const broken = randomPack(4);
    broken.bytes.writeUInt32BE(broken.entries[0]!.offset + 1, broken.size - 12 - 4 * 41 + 33); // first index record
    await unchangedBy(() => rejectsWith(client.postPack(vault, [broken.bytes], broken.size), 'E_CORRUPT', /index record 0/));
    const notAPack = Buffer.alloc(100, 7);
    await unchangedBy(() => rejectsWith(client.postPack(vault, [notAPack], notAPack.length), 'E_CORRUPT', /bad magic/));
    assert.deepEqual(readdirSync(join(server.dataDir, 'vaults', vault, 'tmp')), [], 'no temp file left');
  });

  it('an oversized posted pack is refused before its bytes are read', async () => {
    const big = Buffer.alloc(65 * 1024 * 1024);
    await unchangedBy(() => rejectsWith(client.postPack(vault, [big], big.length), 'E_TOO_LARGE', /larger than/));
  });

  it('a pack posted to a vault that does not exist is refused', async () => {
    const pack = randomPack(1);
    await rejectsWith(client.postPack('nosuch', pack.buffers, pack.size), 'E_NOT_FOUND', /nosuch/);
  });
});

describe('an agent against a storage server from before server-named packs', () => {
  let server: StorageProcess;
  let client: StorageClient;
  const vault = 'main';

  before(async () => {
    server = await startStorage({ env: { CAIRN_TEST: '1', CAIRN_TEST_STORAGE_WITHOUT_POST_PACKS: '1' } });
    client = await StorageClient.fromFiles(server);
    await client.createVault(vault, await testVaultConfig());
  });

  after(async () => {
    client?.close();
    if (server) assert.equal(await server.stop(), 0, `clean exit on SIGTERM; stderr: ${server.stderr()}`);
  });

  it('names the pack itself and sends it by PUT', async () => {
    const pack = randomPack(4);
    assert.deepEqual(await client.postPack(vault, pack.buffers, pack.size), { name: sha256(pack.bytes), stored: true });
    const places = await client.locate(vault, pack.blobs.map((b) => b.id));
    assert.deepEqual(places.map((p) => p?.pack), pack.blobs.map(() => pack.name));
    const again = randomPack(2);
    assert.deepEqual(await client.postPack(vault, again.buffers, again.size), { name: again.name, stored: true });
    assert.deepEqual(await client.postPack(vault, again.buffers, again.size), { name: again.name, stored: false });
    assert.deepEqual(vaultState(server, vault).packs, 2);
  });

  it('a vault that does not exist is still refused as such', async () => {
    const pack = randomPack(1);
    await rejectsWith(client.postPack('nosuch', pack.buffers, pack.size), 'E_NOT_FOUND', /nosuch/);
  });
});

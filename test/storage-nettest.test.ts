// The net test routes of a real (standalone) storage server: an upload to the discard route is
// read whole, answered with its size and dropped (no file in the data folder changes); the ping
// answers at once; an upload declared over 1 GiB is refused before its body travels, and one
// without the access key is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StorageClient } from '../src/agent/storage-client.ts';
import { NETTEST_MAX_BYTES } from '../src/protocol/nettest.ts';
import { rawRequest } from './support/storage-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

function files(dir: string): [string, number][] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e): [string, number] => [join(e.parentPath, e.name), statSync(join(e.parentPath, e.name)).size])
    .sort();
}

describe('the storage server\'s net test routes', () => {
  let server: StorageProcess;
  let client: StorageClient;

  before(async () => {
    server = await startStorage();
    client = await StorageClient.fromFiles(server);
  });
  after(async () => {
    client?.close();
    if (server) assert.equal(await server.stop(), 0, `clean exit; stderr: ${server.stderr()}`);
  });

  it('reads an upload whole and keeps nothing of it; the pings answer', async () => {
    const before = files(server.dataDir);
    const seconds = await client.discard(5 * 1024 * 1024 + 7, randomBytes(1024 * 1024));
    assert.ok(seconds > 0);
    const pings = await client.pings();
    assert.equal(pings.length, 5);
    assert.ok(pings.every((ms) => ms > 0));
    assert.deepEqual(files(server.dataDir), before);
  });

  it('refuses an upload declared over 1 GiB before reading it, and one without the key', async () => {
    const key = readFileSync(server.accessKeyFile, 'utf8').trim();
    const big = await rawRequest(server, { method: 'PUT', path: '/v1/nettest', key, headers: { 'content-length': String(NETTEST_MAX_BYTES + 1), expect: '100-continue' } });
    assert.equal(big.status, 413);
    assert.match(big.body, /net test upload of 1073741825 bytes is larger than the limit of 1073741824/);
    const anonymous = await rawRequest(server, { method: 'GET', path: '/v1/nettest' });
    assert.equal(anonymous.status, 401);
  });
});

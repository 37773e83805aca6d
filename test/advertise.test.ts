// The addresses other machines reach the parts at (--advertise), on real processes: the backup
// server started on a wildcard bind with --advertise writes that URL into its tokens and has it in
// its certificate; a storage server's advertised data-plane URL is what `storage list` shows (and
// what the server gives agents), kept across a restart; a wildcard bind without --advertise is
// listed at an address of this machine that is not loopback; bad values are refused before
// anything is enrolled or stored.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PartJson } from '../src/protocol/api-types.ts';
import { parseEnrollmentToken } from '../src/protocol/enrollment-token.ts';
import { runCairn } from './support/cli.ts';
import { type Daemon, startDaemon, tempDir } from './support/cluster.ts';
import { attemptStart } from './support/part-attempts.ts';

const ADVERTISED = 'https://backup.example:7443';

/** What a 0.0.0.0 bind on `port` is announced as without --advertise: this machine's first external IPv4 address. */
function wildcardAddress(port: string): string {
  const v4 = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && !a.internal && a.family === 'IPv4');
  return `https://${v4?.address ?? '127.0.0.1'}:${port}`;
}

describe('advertised addresses', { concurrency: 1 }, () => {
  const root = tempDir('cairn-advertise-');
  const serverDir = join(root, 'server');
  const env = { CAIRN_CONFIG: join(root, 'cli.json') };
  let server: Daemon;
  let local: string;
  const parts: Daemon[] = [];
  const cli = (args: string[], stdin?: string) => runCairn(args, env, stdin);
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await cli([...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  const token = async () => (await json<{ token: string }>(['token', 'create', '--kind', 'storage'])).token;
  const storageAt = async (name: string, want?: string): Promise<PartJson> => {
    for (let i = 0; i < 300; i++) {
      const found = (await json<PartJson[]>(['storage', 'list'])).find((p) => p.name === name);
      if (found?.status === 'online' && (want === undefined || found.address === want)) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`storage ${name} did not come online${want ? ` at ${want}` : ''}`);
  };

  before(async () => {
    const init = await runCairn(['server', 'init', '--data', serverDir, '--admin-password-stdin'], {}, 'admin-password-for-tests\n');
    assert.equal(init.code, 0, init.stderr);
    const fingerprint = /fingerprint ([0-9a-f]{64})/.exec(init.stdout)![1]!;
    server = await startDaemon('server', serverDir, ['server', 'start', '--data', serverDir, '--listen', '0.0.0.0:0', '--advertise', ADVERTISED]);
    local = server.firstLine.trim();
    assert.match(local, /^https:\/\/127\.0\.0\.1:\d+$/, 'the printed address is the one to use on this machine');
    const login = await cli(['login', local, '--user', 'admin', '--password-stdin', '--fingerprint', fingerprint], 'admin-password-for-tests\n');
    assert.equal(login.code, 0, login.stderr);
  });

  after(async () => {
    for (const p of parts) await p.stop();
    await server?.stop();
  });

  it('tokens carry the advertised server URL, and the server certificate names its host', async () => {
    assert.equal(parseEnrollmentToken(await token()).server, ADVERTISED);
    const cert = new X509Certificate(readFileSync(join(serverDir, 'tls', 'cert.pem')));
    assert.ok(cert.subjectAltName?.split(', ').includes('DNS:backup.example'), cert.subjectAltName);
  });

  it("a storage server's --advertise URL is what the server lists, and it is kept across a restart", async () => {
    const dataDir = join(root, 's1');
    const args = ['storage', 'start', '--data', dataDir, '--listen', '0.0.0.0:0', '--server', local, '--token', await token(), '--name', 's1'];
    parts.push(await startDaemon('s1', dataDir, [...args, '--advertise', 'https://storage.example:9443/']));
    assert.equal((await storageAt('s1')).address, 'https://storage.example:9443');
    await parts.pop()!.stop();
    parts.push(await startDaemon('s1', dataDir, ['storage', 'start', '--data', dataDir]));
    assert.equal((await storageAt('s1', 'https://storage.example:9443')).address, 'https://storage.example:9443');
    // --advertise none forgets it: the wildcard bind is announced as this machine again
    await parts.pop()!.stop();
    const again = await startDaemon('s1', dataDir, ['storage', 'start', '--data', dataDir, '--advertise', 'none']);
    parts.push(again);
    const plain = wildcardAddress(new URL(again.firstLine.trim()).port);
    assert.equal((await storageAt('s1', plain)).address, plain);
  });

  it('a wildcard bind without --advertise is listed at an address of this machine that is not loopback', async () => {
    const dataDir = join(root, 's2');
    const d = await startDaemon('s2', dataDir, ['storage', 'start', '--data', dataDir, '--listen', '0.0.0.0:0', '--server', local, '--token', await token(), '--name', 's2']);
    parts.push(d);
    const want = wildcardAddress(new URL(d.firstLine.trim()).port);
    assert.equal((await storageAt('s2')).address, want);
    assert.match(d.stderr(), new RegExp(`announced to the backup server as ${want.replaceAll('.', '\\.')}`));
  });

  it('bad --advertise values are refused before a token is spent or anything is stored', async () => {
    const t = await token();
    const before = (await json<PartJson[]>(['storage', 'list'])).map((p) => p.name).sort();
    for (const bad of ['http://storage.example:9443', 'https://storage.example:9443/some/path', 'not a url']) {
      const dataDir = join(root, `bad-${before.length}-${bad.length}`);
      const r = await attemptStart(['storage', 'start', '--data', dataDir, '--listen', '127.0.0.1:0', '--server', local, '--token', t, '--name', 's3', '--advertise', bad]);
      assert.equal(r.started, false, r.stdout);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--advertise: want an https URL/);
    }
    const standalone = await attemptStart(['storage', 'start', '--data', join(root, 'alone'), '--listen', '127.0.0.1:0', '--advertise', 'https://a.example:1']);
    assert.equal(standalone.code, 2, standalone.stderr);
    assert.match(standalone.stderr, /--advertise needs --server/);
    const otherServer = await attemptStart(['server', 'start', '--data', serverDir, '--listen', '127.0.0.1:0', '--advertise', 'ftp://backup.example']);
    assert.equal(otherServer.started, false);
    assert.notEqual(otherServer.code, 0);
    assert.deepEqual((await json<PartJson[]>(['storage', 'list'])).map((p) => p.name).sort(), before, 'nothing enrolled');
    // the token was not spent: it still enrolls a storage server
    const dataDir = join(root, 's3');
    parts.push(await startDaemon('s3', dataDir, ['storage', 'start', '--data', dataDir, '--listen', '127.0.0.1:0', '--server', local, '--token', t, '--name', 's3']));
    assert.equal((await storageAt('s3')).name, 's3');
  });

  it('the server keeps its advertised URL across a restart from its data folder', async () => {
    await server.stop();
    server = await startDaemon('server', serverDir, ['server', 'start', '--data', serverDir]);
    local = server.firstLine.trim();
    assert.equal(parseEnrollmentToken(await token()).server, ADVERTISED);
    // until told to forget it
    await server.stop();
    server = await startDaemon('server', serverDir, ['server', 'start', '--data', serverDir, '--advertise', 'none']);
    local = server.firstLine.trim();
    assert.equal(parseEnrollmentToken(await token()).server, wildcardAddress(new URL(local).port));
  });
});

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { mtlsRequest, type TestAuthority, testAuthority } from '../../test/support/part-fixtures.ts';
import { CairnError, httpStatusOf } from '../core/errors.ts';
import { certificateFingerprint, mutualServerTlsOptions, type TlsIdentity } from '../core/tls.ts';
import type { Op } from '../protocol/data-plane.ts';
import { NETTEST_VAULT } from '../protocol/nettest.ts';
import { grantAuthorizer, standaloneAuthorizer } from './authorize.ts';

const withHeader = (authorization?: string) => ({ headers: { authorization } }) as unknown as IncomingMessage;
const unauthorized = (message: RegExp) => (e: unknown) =>
  e instanceof CairnError && e.code === 'E_UNAUTHORIZED' && message.test(e.message);

describe('standaloneAuthorizer', () => {
  const key = 'ab'.repeat(32);
  const authorize = standaloneAuthorizer(key);

  it('lets the access key through for every op', () => {
    for (const op of ['read', 'write', 'admin'] as const) authorize(withHeader(`Bearer ${key}`), { op, vault: 'v' });
  });

  it('refuses a missing, malformed, wrong or differently sized key', () => {
    assert.throws(() => authorize(withHeader(), { op: 'read' }), unauthorized(/missing/));
    assert.throws(() => authorize(withHeader(`Basic ${key}`), { op: 'read' }), unauthorized(/missing/));
    assert.throws(() => authorize(withHeader(`Bearer ${'cd'.repeat(32)}`), { op: 'read' }), unauthorized(/wrong/));
    assert.throws(() => authorize(withHeader(`Bearer ${key}0`), { op: 'read' }), unauthorized(/wrong/));
  });
});

describe('grantAuthorizer over mutual TLS', () => {
  const storage = { kind: 'storage', name: 'nas' } as const;
  let authority: TestAuthority;
  let stranger: TestAuthority;
  let server: Server;
  let port: number;
  let agentId: TlsIdentity;
  // the revoked list as the storage server holds it (revocations.ts): the test changes it in place
  const revokedSet = new Set<string>();
  const revoked = { received: true, has: (f: string) => revokedSet.has(f) };

  // A real mTLS server as the data plane sets it up: the path says what the request needs.
  before(async () => {
    [authority, stranger] = await Promise.all([testAuthority(), testAuthority()]);
    agentId = await authority.issue({ kind: 'agent', name: 'laptop' });
    const authorize = grantAuthorizer({
      caPem: authority.ca.certPem,
      grantPublicKeyPem: authority.grantKey.publicPem,
      storageName: 'nas',
      revoked,
    });
    const identity = await authority.issue(storage, ['127.0.0.1']);
    server = createServer(mutualServerTlsOptions(identity, authority.ca.certPem), (req, res) => {
      const [, op, vault] = (req.url ?? '').split('/');
      try {
        authorize(req, { op: op as Op, vault: vault || undefined });
        res.writeHead(200).end('ok');
      } catch (e) {
        const err = e as CairnError;
        res.writeHead(httpStatusOf(err)).end(`${err.code} ${err.message}`);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  const ask = (path: string, o: { identity?: TlsIdentity; grant?: string } = {}) =>
    mtlsRequest({
      port,
      method: 'GET',
      path,
      ca: authority.ca.certPem,
      expect: storage,
      identity: 'identity' in o ? o.identity : agentId,
      headers: o.grant === undefined ? {} : { 'Cairn-Grant': o.grant },
    });
  const backupGrant = () => authority.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'backup' });

  it('lets a backup grant read and write its vault, and a restore grant read it', async () => {
    assert.deepEqual(await ask('/write/home', { grant: backupGrant() }), { status: 200, body: 'ok' });
    assert.deepEqual(await ask('/read/home', { grant: backupGrant() }), { status: 200, body: 'ok' });
    const restore = authority.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'restore' });
    assert.deepEqual(await ask('/read/home', { grant: restore }), { status: 200, body: 'ok' });
    const copy = authority.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'copy' });
    assert.deepEqual(await ask('/write/home', { grant: copy }), { status: 200, body: 'ok' });
  });

  it('answers 401 without a certificate from the CA, or with one that is not an agent', async () => {
    const needCert = { status: 401, body: "E_UNAUTHORIZED client certificate from the server's CA required" };
    assert.deepEqual(await ask('/read/home', { identity: undefined, grant: backupGrant() }), needCert);
    const foreign = await stranger.issue({ kind: 'agent', name: 'laptop' });
    assert.deepEqual(await ask('/read/home', { identity: foreign, grant: backupGrant() }), needCert);
    const otherStorage = await authority.issue({ kind: 'storage', name: 'laptop' });
    assert.deepEqual(await ask('/read/home', { identity: otherStorage, grant: backupGrant() }), needCert);
  });

  it('answers 401 without a grant and 400 for a grant that is not one', async () => {
    assert.match((await ask('/read/home')).body, /^E_UNAUTHORIZED missing grant/);
    assert.equal((await ask('/read/home')).status, 401);
    const garbage = await ask('/read/home', { grant: 'not-a-grant' });
    assert.equal(garbage.status, 400, garbage.body);
  });

  it('answers 403 for a grant for another vault, storage, agent, op, signer, or expired', async () => {
    const cases: [string, string, RegExp][] = [
      ['/read/other', backupGrant(), /for vault home, not other/],
      ['/read/home', authority.grant({ agent: 'laptop', storage: 'nas2', vault: 'home', op: 'backup' }), /storage nas2, not nas/],
      ['/read/home', authority.grant({ agent: 'desktop', storage: 'nas', vault: 'home', op: 'backup' }), /agent desktop, not laptop/],
      ['/write/home', authority.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'restore' }), /restore grant does not allow writes/],
      ['/write/home', authority.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'verify' }), /verify grant does not allow writes/],
      ['/read/home', stranger.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'backup' }), /bad signature/],
      ['/read/home', authority.grant({ agent: 'laptop', storage: 'nas', vault: 'home', op: 'backup', exp: Date.now() - 120_000 }), /expired/],
    ];
    for (const [path, grant, reason] of cases) {
      const answer = await ask(path, { grant });
      assert.equal(answer.status, 403, `${path}: ${answer.body}`);
      assert.match(answer.body, reason);
    }
  });

  it('lets a nettest grant use the net test routes and no vault, and no other grant use those routes', async () => {
    const nettest = authority.grant({ agent: 'laptop', storage: 'nas', vault: NETTEST_VAULT, op: 'nettest' });
    assert.deepEqual(await ask('/nettest', { grant: nettest }), { status: 200, body: 'ok' });
    for (const path of ['/read/nettest', '/write/nettest']) {
      const answer = await ask(path, { grant: nettest });
      assert.equal(answer.status, 403, path);
      assert.match(answer.body, /a nettest grant does not allow (reads|writes)/);
    }
    const backup = await ask('/nettest', { grant: authority.grant({ agent: 'laptop', storage: 'nas', vault: NETTEST_VAULT, op: 'backup' }) });
    assert.equal(backup.status, 403);
    assert.match(backup.body, /a backup grant does not allow nettests/);
    assert.match((await ask('/nettest', { grant: backupGrant() })).body, /for vault home, not nettest/);
  });

  it('refuses admin routes to agents whatever their grant', async () => {
    const answer = await ask('/admin', { grant: backupGrant() });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /^E_FORBIDDEN agents may not create or scrub vaults/);
    assert.equal((await ask('/admin/home', { grant: backupGrant() })).status, 403);
  });

  it('refuses a grant over a connection whose certificate is not the one the grant names, even for the same agent name', async () => {
    const firstGrant = backupGrant(); // names the certificate agentId holds
    const second = await authority.issue({ kind: 'agent', name: 'laptop' }); // e.g. a stolen grant replayed with a re-issued certificate
    const answer = await ask('/read/home', { identity: second, grant: firstGrant });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /^E_FORBIDDEN grant refused: it is for agent laptop's certificate [0-9a-f]{16}…, not the one this connection presented/);
    agentId = second; // the authority's grants now name this one
    assert.deepEqual(await ask('/read/home', { grant: backupGrant() }), { status: 200, body: 'ok' });
  });

  it('refuses a revoked certificate whatever its grant, and every grant until the list has come', async () => {
    const fingerprint = certificateFingerprint(agentId.certPem);
    revokedSet.add(fingerprint);
    try {
      const answer = await ask('/read/home', { grant: backupGrant() });
      assert.equal(answer.status, 403);
      assert.match(answer.body, /^E_FORBIDDEN certificate revoked: agent laptop was removed/);
    } finally {
      revokedSet.delete(fingerprint);
    }
    revoked.received = false;
    try {
      const answer = await ask('/read/home', { grant: backupGrant() });
      assert.equal(answer.status, 503);
      assert.match(answer.body, /^E_UNAVAILABLE waiting for the backup server's list of revoked certificates/);
    } finally {
      revoked.received = true;
    }
    assert.deepEqual(await ask('/read/home', { grant: backupGrant() }), { status: 200, body: 'ok' });
  });
});

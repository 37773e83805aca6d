// Removed agents refused everywhere at once, on real processes (issue 13, item 5): a grant names
// the agent's certificate, so one replayed over another agent's connection is refused; removing an
// agent pushes its certificate to every online storage server, which refuses its still-valid
// grants at once; a storage server that was offline during the removal gets the full list after
// its hello and serves no grant before it.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificateFingerprint, type TlsIdentity } from '../src/core/tls.ts';
import type { PartJson, RunJson } from '../src/protocol/api-types.ts';
import { type Grant, signGrant } from '../src/protocol/grant.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { mtlsRequest } from './support/part-fixtures.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'revocation test passphrase' };

describe('removed agents refused by storage servers at once', { concurrency: 1 }, () => {
  let c: Cluster;
  let src: string;

  before(async () => {
    c = await startCluster({ agents: ['a1', 'a2'], storages: ['s1', 's2'] });
    src = join(tempDir('cairn-revoke-src-'), 'data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'file.txt'), 'revocation test\n');
    for (const s of ['s1', 's2']) {
      const r = await c.cli(['job', 'create', `j-${s}`, '--agent', 'a1', '--storage', s, '--path', src], undefined, PASSPHRASE);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await c?.stop();
  });

  const identity = (agent: string): TlsIdentity => {
    const dir = join(c.agents.get(agent)!.dataDir, 'tls');
    return { keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'), certPem: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  };
  const fingerprintOf = (agent: string) => certificateFingerprint(identity(agent).certPem);

  /** A grant as the backup server signs one (its grant key from its data folder). */
  const grant = (g: Partial<Grant> & { agent: string; storage: string }) =>
    signGrant(createPrivateKey(readFileSync(join(c.serverDir, 'grant-key.pem'), 'utf8')), {
      vault: `admin.${g.storage}`,
      op: 'restore',
      run: 'revocation-test',
      exp: Date.now() + 3600_000,
      cert: fingerprintOf(g.agent),
      ...g,
    });

  /** GET the vault's config on `storage` with `grant` over a connection presenting `as`'s certificate. */
  async function read(storage: string, as: TlsIdentity, token: string): Promise<{ status: number; body: string }> {
    const parts = await c.json<PartJson[]>(['storage', 'list']);
    const port = Number(new URL(parts.find((p) => p.name === storage)!.address!).port);
    return mtlsRequest({
      port,
      method: 'GET',
      path: `/v1/vaults/admin.${storage}`,
      ca: readFileSync(join(c.serverDir, 'ca.pem'), 'utf8'),
      expect: { kind: 'storage', name: storage },
      identity: as,
      headers: { 'Cairn-Grant': token },
    });
  }

  it("a run's grants carry the agent's certificate: a backup succeeds", async () => {
    const run = await c.json<RunJson>(['job', 'run', 'j-s1', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
  });

  it("refuses a grant replayed over another agent's connection, and one naming another certificate", async () => {
    const a1Grant = grant({ agent: 'a1', storage: 's1' });
    assert.equal((await read('s1', identity('a1'), a1Grant)).status, 200);
    const replayed = await read('s1', identity('a2'), a1Grant);
    assert.equal(replayed.status, 403, replayed.body);
    assert.match(replayed.body, /grant refused: it is for agent a1, not a2/);
    // a grant for a2's name made out to a1's certificate: the certificate decides
    const otherCert = await read('s1', identity('a2'), grant({ agent: 'a2', storage: 's1', cert: fingerprintOf('a1') }));
    assert.equal(otherCert.status, 403, otherCert.body);
    assert.match(otherCert.body, /grant refused: it is for agent a2's certificate [0-9a-f]{16}…, not the one this connection presented/);
  });

  it("refuses a removed agent's still-valid grant at once, and a storage server offline during the removal before it serves", async () => {
    const a2 = identity('a2');
    const a2Fingerprint = fingerprintOf('a2');
    const onS1 = grant({ agent: 'a2', storage: 's1' });
    const onS2 = grant({ agent: 'a2', storage: 's2' });
    assert.equal((await read('s1', a2, onS1)).status, 200);
    assert.equal((await read('s2', a2, onS2)).status, 200);
    const s2Dir = c.storages.get('s2')!.dataDir;
    await c.storages.get('s2')!.stop();

    const removed = await c.cli(['agent', 'remove', 'a2']);
    assert.equal(removed.code, 0, removed.stderr);
    const refused = await read('s1', a2, onS1);
    assert.equal(refused.status, 403, refused.body);
    assert.match(refused.body, /certificate revoked: agent a2 was removed/);
    const saved = JSON.parse(readFileSync(join(c.storages.get('s1')!.dataDir, 'revoked.json'), 'utf8')) as { fingerprints: string[] };
    assert.deepEqual(saved.fingerprints, [a2Fingerprint]);
    // s2 was offline: it does not know yet
    assert.equal(existsSync(join(s2Dir, 'revoked.json')) && readFileSync(join(s2Dir, 'revoked.json'), 'utf8').includes(a2Fingerprint), false);

    // from its first answer on, the restarted s2 never serves the removed agent's grant
    await c.restartStorage('s2');
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      const answer = await read('s2', a2, onS2);
      seen.push(answer.status);
      assert.ok(answer.status === 503 || answer.status === 403, `answered ${answer.status}: ${answer.body}`);
      if (answer.status === 403) {
        assert.match(answer.body, /certificate revoked: agent a2 was removed/);
        break;
      }
      assert.match(answer.body, /waiting for the backup server's list of revoked certificates/);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(seen.at(-1), 403, `answers: ${seen.join(' ')}`);
    assert.match(readFileSync(join(s2Dir, 'revoked.json'), 'utf8'), new RegExp(a2Fingerprint));
    // the agent still enrolled is served as before
    assert.equal((await read('s2', identity('a1'), grant({ agent: 'a1', storage: 's2' }))).status, 200);
    const run = await c.json<RunJson>(['job', 'run', 'j-s2', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
  });
});

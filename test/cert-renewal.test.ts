// Certificates that never expire on the fleet, on real processes over real TLS: with a 30 s
// certificate life and a 2 s check (CAIRN_TEST settings), the server, a storage server and an
// agent renew at two thirds of the life and stay online on the links they have, a backup still
// runs on the renewed certificates, and a renewed part's old certificate is refused by the
// server's control route at once. An agent whose certificate expired while it was stopped
// re-enrolls with a token on its data folder, keeping its name and vault key pair; a re-enroll
// for a name that is another part is refused (409) and changes nothing.
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPartRequest } from '../src/core/ca.ts';
import { certValidity } from '../src/core/cert-life.ts';
import { certificateFingerprint, type TlsIdentity } from '../src/core/tls.ts';
import type { PartJson, RunJson } from '../src/protocol/api-types.ts';
import { reenrollSigned } from '../src/protocol/enrollment-token.ts';
import { type Cluster, type Daemon, startDaemon, startCluster, tempDir } from './support/cluster.ts';
import { dialControl } from './support/part-attempts.ts';
import { errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { unchanged } from './support/refusals.ts';

const LIFETIME_MS = 30_000;
const ENV = { CAIRN_TEST: '1', CAIRN_TEST_CERT_LIFETIME_MS: String(LIFETIME_MS), CAIRN_TEST_CERT_CHECK_MS: '2000' };

function identityIn(dataDir: string): TlsIdentity {
  return { keyPem: readFileSync(join(dataDir, 'tls', 'key.pem'), 'utf8'), certPem: readFileSync(join(dataDir, 'tls', 'cert.pem'), 'utf8') };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('certificate renewal and re-enrollment', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let a2: Daemon | undefined;
  let a2Dir = '';

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'], env: ENV });
    api = rawApi(c);
    // a2 enrolls and stops at once: its certificate expires while it is offline
    a2Dir = join(tempDir('cairn-a2-'), 'data');
    const token = (await c.json<{ token: string }>(['token', 'create', '--kind', 'agent'])).token;
    const first = await startDaemon('agent a2', a2Dir, ['agent', 'start', '--data', a2Dir, '--server', c.url, '--token', token, '--name', 'a2'], ENV);
    await c.waitOnline('agent', 'a2');
    await first.stop();
  });

  after(async () => {
    await a2?.stop();
    await c?.stop();
  });

  it('renews the agent, storage and server certificates twice while staying online, refuses the old ones, and still backs up', async () => {
    const a1Dir = c.agents.get('a1')!.dataDir;
    const s1Dir = c.storages.get('s1')!.dataDir;
    const caPem = readFileSync(join(c.serverDir, 'ca.pem'), 'utf8');
    const firstA1 = identityIn(a1Dir);
    const firstS1 = identityIn(s1Dir);
    const firstServer = identityIn(c.serverDir);
    const seen = { a1: new Set([certificateFingerprint(firstA1.certPem)]), s1: new Set([certificateFingerprint(firstS1.certPem)]) };
    await until('two renewals of a1 and s1', async () => {
      seen.a1.add(certificateFingerprint(identityIn(a1Dir).certPem));
      seen.s1.add(certificateFingerprint(identityIn(s1Dir).certPem));
      for (const kind of ['agent', 'storage'] as const)
        for (const p of await c.json<PartJson[]>([kind, 'list']))
          if (p.name !== 'a2') assert.equal(p.status, 'online', `${kind} ${p.name} went offline during renewals`);
      return seen.a1.size >= 3 && seen.s1.size >= 3 ? true : undefined;
    });
    // the links were never redialled: each part came online once
    const serverLog = c.server.stderr();
    assert.equal(serverLog.split('\n').filter((l) => /Z agent a1 online /.test(l)).length, 1, serverLog);
    assert.equal(serverLog.split('\n').filter((l) => /Z storage s1 online /.test(l)).length, 1, serverLog);
    assert.match(serverLog, /agent a1 renewed its certificate/);
    assert.notEqual(certificateFingerprint(identityIn(c.serverDir).certPem), certificateFingerprint(firstServer.certPem), 'the server did not renew its leaf');

    // the old certificates are refused by the control route; the key that signs vault keys is untouched
    assert.equal(await dialControl(c.url, caPem, firstA1), 401);
    assert.equal(await dialControl(c.url, caPem, firstS1), 401);

    // certExpires is the current certificate's expiry
    // (read the file before and after the list: a renewal may land in between)
    const current = identityIn(a1Dir);
    const listed = (await c.json<PartJson[]>(['agent', 'list'])).find((p) => p.name === 'a1')!;
    const expiries = [current, identityIn(a1Dir)].map((i) => new Date(certValidity(i.certPem).expiresAt).toISOString());
    assert.ok(expiries.includes(listed.certExpires!), `${listed.certExpires} is not ${expiries.join(' or ')}`);
    assert.ok(Date.parse(listed.certExpires!) > Date.now(), listed.certExpires!);

    // a backup over the renewed certificates (agent → storage data plane, new TLS contexts)
    const src = tempDir('cairn-src-');
    for (let i = 0; i < 20; i++) writeSample(join(src, `f${i}`), i);
    const made = await c.cli(['job', 'create', 'renewed', '--agent', 'a1', '--storage', 's1', '--path', src], undefined, { CAIRN_PASSPHRASE: 'pass-phrase-for-tests' });
    assert.equal(made.code, 0, made.stderr);
    const run = await c.json<RunJson>(['job', 'run', 'renewed', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.files, 20);
  });

  it('re-enrolls an agent whose certificate expired while it was stopped: same name, same vault key pair', async () => {
    const old = identityIn(a2Dir);
    const agentKey = readFileSync(join(a2Dir, 'agent-key.pem'), 'utf8');
    const publicKey = ((await api.call('/api/agents/a2')).json as { publicKey: string }).publicKey;
    await until('a2 certificate to expire', () => (Date.now() > certValidity(old.certPem).expiresAt + 1000 ? true : undefined), LIFETIME_MS + 10_000);
    const token = (await c.json<{ token: string }>(['token', 'create', '--kind', 'agent'])).token;
    a2 = await startDaemon('agent a2', a2Dir, ['agent', 'start', '--data', a2Dir, '--token', token], ENV);
    await c.waitOnline('agent', 'a2');
    assert.match(a2.stderr(), /re-enrolled as a2/);
    assert.equal(readFileSync(join(a2Dir, 'agent-key.pem'), 'utf8'), agentKey, 'agent-key.pem changed');
    assert.notEqual(certificateFingerprint(identityIn(a2Dir).certPem), certificateFingerprint(old.certPem));
    const shown = (await api.call('/api/agents/a2')).json as { name: string; publicKey: string; owner: string };
    assert.equal(shown.publicKey, publicKey);
    assert.equal(shown.owner, 'admin');
    assert.deepEqual((await c.json<PartJson[]>(['agent', 'list'])).map((p) => p.name), ['a1', 'a2']);
    assert.match(c.server.stderr(), /agent a2 re-enrolled/);
  });

  it('refuses (409) a re-enrollment for a name that is another part, and changes nothing', async () => {
    const token = (await c.json<{ token: string }>(['token', 'create', '--kind', 'agent'])).token;
    const a2Identity = identityIn(a2Dir); // a real part of this CA, but not a1
    const a1Key = ((await api.call('/api/agents/a1')).json as { publicKey: string }).publicKey;
    const { csrPem } = await createPartRequest({ kind: 'agent', name: 'a1' });
    const proof = { certificate: a2Identity.certPem, signature: createSign('sha256').update(reenrollSigned(csrPem)).sign(a2Identity.keyPem, 'base64') };
    const body = { token, name: 'a1', csr: csrPem, publicKey: a1Key, version: 'test', previous: proof };
    const { result: answer } = await unchanged(api, () => api.call('/api/enroll', { body, token: null }));
    assert.equal(answer.status, 409, answer.text);
    assert.match(errorOf(answer).message ?? '', /already enrolled, and this is not it: its certificate names cairn-agent:a2/);
    // nor without any proof
    const { result: bare } = await unchanged(api, () => api.call('/api/enroll', { body: { ...body, previous: undefined }, token: null }));
    assert.equal(bare.status, 409, bare.text);
    assert.doesNotMatch(c.server.stderr(), /agent a1 re-enrolled/);
    // the refusals did not burn the token, and a1 kept its link
    assert.equal((await c.json<PartJson[]>(['agent', 'list'])).find((p) => p.name === 'a1')?.status, 'online');
  });
});

function writeSample(path: string, seed: number): void {
  const bytes = Buffer.alloc(4096 + seed * 997);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  writeFileSync(path, bytes);
}

// Bad enrollment and bad part identities against one real cluster (server, storage s1, agent a1
// as processes): a used, expired, forged or wrong-kind token; a control-channel client
// certificate from another CA, from the right CA for a part never enrolled, or not the one
// issued; and an agent an admin removed. Each is refused (non-zero exit or 401/403) with one
// line saying why, adds no part, and the refused enrollments are in the audit log.
// (Grants for another vault at the storage server: test/storage-grants.test.ts.)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCertificateAuthority, createPartRequest, issuePartCertificate } from '../src/core/ca.ts';
import type { PartIdentity } from '../src/core/part-identity.ts';
import { certificateFingerprint } from '../src/core/tls.ts';
import { createEnrollmentToken, parseEnrollmentToken } from '../src/protocol/enrollment-token.ts';
import { runCairn } from './support/cli.ts';
import { type Cluster, type Daemon, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { attemptStart, dialControl, enrollRaw, type StartAttempt } from './support/part-attempts.ts';
import { errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused, unchanged } from './support/refusals.ts';

/** Waits for `condition` (the server's log arrives through a pipe, after its answer). */
async function until(condition: () => boolean, failure: string): Promise<void> {
  for (let i = 0; i < 600 && !condition(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(condition(), failure);
}

describe('bad enrollment and part identities', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  const extraDaemons: Daemon[] = [];

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    api = rawApi(c);
  });

  after(async () => {
    await Promise.all(extraDaemons.map((d) => d.stop()));
    await c?.stop();
  });

  const token = async (kind: 'agent' | 'storage', ttl?: number) =>
    (await c.json<{ token: string }>(['token', 'create', '--kind', kind, ...(ttl === undefined ? [] : ['--ttl', String(ttl)])])).token;

  /** `cairn agent start` (or storage) with `tokenText` in a fresh folder: refused, nothing written, nothing added. */
  async function startRefused(kind: 'agent' | 'storage', tokenText: string, name: string, message: RegExp, reachesServer: boolean): Promise<StartAttempt> {
    const dataDir = join(tempDir(`cairn-refused-${kind}-`), 'data');
    const args = [kind, 'start', '--data', dataDir, '--server', c.url, '--token', tokenText, '--name', name];
    if (kind === 'storage') args.push('--listen', '127.0.0.1:0');
    const { result: attempt, audit } = await unchanged(api, () => attemptStart(args));
    assert.equal(attempt.started, false, `${kind} ${name} started: ${attempt.stdout}`);
    assert.equal(attempt.code, 1, `${kind} ${name}: exit ${attempt.code}, stderr: ${attempt.stderr}`);
    const lines = attempt.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `not one line: ${attempt.stderr}`);
    assert.match(lines[0]!, message);
    assert.equal(existsSync(join(dataDir, `${kind}.json`)), false, 'a refused part saved its identity');
    assert.equal(existsSync(join(dataDir, 'tls', 'cert.pem')), false, 'a refused part holds a certificate');
    if (reachesServer) assert.ok(audit.some((e) => e.what === 'POST /api/enroll' && e.result === 'E_UNAUTHORIZED' && e.who === 'anonymous'), JSON.stringify(audit));
    else assert.deepEqual(audit, []);
    return attempt;
  }

  async function partNames(kind: 'agent' | 'storage'): Promise<string[]> {
    return (await c.json<{ name: string }[]>([kind, 'list'])).map((p) => p.name);
  }

  it('refuses a token used once already: the second agent start exits 1 with "already used" and adds no agent', async () => {
    const once = await token('agent');
    const dataDir = join(tempDir('cairn-a2-'), 'data');
    const a2 = await startDaemon('agent a2', dataDir, ['agent', 'start', '--data', dataDir, '--server', c.url, '--token', once, '--name', 'a2']);
    extraDaemons.push(a2);
    await c.waitOnline('agent', 'a2');
    await startRefused('agent', once, 'a3', /^cairn: enrollment token was already used$/, true);
    // the same name as the part that used it: still the token that is refused first
    await startRefused('agent', once, 'a2', /already used/, true);
    assert.deepEqual(await partNames('agent'), ['a1', 'a2']);
  });

  it('refuses an expired token, in the part and at the server', async () => {
    const shortLived = await token('agent', 1);
    const { exp } = parseEnrollmentToken(shortLived);
    while (Date.now() <= exp + 10) await new Promise((r) => setTimeout(r, exp + 20 - Date.now()));
    // the part reads the expiry from the token and does not even ask the server
    await startRefused('agent', shortLived, 'late', /^cairn: enrollment token expired at \d{4}-/, false);
    // the server refuses it too
    const { result: answer, audit } = await unchanged(api, () => enrollRaw(api, shortLived, { kind: 'agent', name: 'late' }));
    assert.equal(answer.status, 401, answer.text);
    assert.equal(errorOf(answer).code, 'E_UNAUTHORIZED');
    assert.match(errorOf(answer).message ?? '', /^enrollment token expired/);
    assert.ok(audit.some((e) => e.what === 'POST /api/enroll' && e.result === 'E_UNAUTHORIZED'), JSON.stringify(audit));
    await cliRefused(c, api, ['token', 'create', '--kind', 'agent', '--ttl', '0'], { exit: 2, message: /--ttl must be a whole number of at least 1: 0/ });
    assert.deepEqual(await partNames('agent'), ['a1', 'a2']);
  });

  it('refuses a token of the other kind, in the part and at the server, without burning it', async () => {
    const storageToken = await token('storage');
    await startRefused('agent', storageToken, 'wrongkind', /^cairn: this enrollment token is for a storage server, not an agent$/, false);
    await startRefused('storage', await token('agent'), 'wrongkind', /^cairn: this enrollment token is for an agent, not a storage server$/, false);
    // at the server: the certificate request must name the kind the token is for
    const { result: answer, audit } = await unchanged(api, () => enrollRaw(api, storageToken, { kind: 'agent', name: 'wrongkind' }));
    assert.equal(answer.status, 403, answer.text);
    assert.match(errorOf(answer).message ?? '', /expected CN=cairn-storage:wrongkind/);
    assert.ok(audit.some((e) => e.what === 'POST /api/enroll' && e.result === 'E_FORBIDDEN'), JSON.stringify(audit));
    // the refused attempts did not use the token up: it still enrolls the kind it is for
    const ok = await enrollRaw(api, storageToken, { kind: 'storage', name: 's9' });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(await partNames('storage'), ['s1', 's9']);
  });

  it('refuses tokens this server never issued and text that is no token', async () => {
    const caPem = readFileSync(join(c.serverDir, 'ca.pem'), 'utf8');
    const forged = createEnrollmentToken({ kind: 'agent', id: 'forged', caFingerprint: certificateFingerprint(caPem), server: c.url, ttlMs: 600_000 }).token;
    await startRefused('agent', forged, 'forged', /^cairn: enrollment token is not known to this server$/, true);
    const attempt = await unchanged(api, () => attemptStart(['agent', 'start', '--data', join(tempDir('cairn-garbage-'), 'd'), '--server', c.url, '--token', 'garbage', '--name', 'g']));
    assert.equal(attempt.result.started, false);
    assert.notEqual(attempt.result.code, 0);
    assert.match(attempt.result.stderr.trim(), /^cairn: .*token.*must start with cairn1\.$/);
    assert.deepEqual(attempt.audit, []);
    // at the server, the schema refuses it before anything else
    const { result: answer } = await unchanged(api, () => enrollRaw(api, 'garbage', { kind: 'agent', name: 'g' }));
    assert.equal(answer.status, 400, answer.text);
    assert.match(errorOf(answer).message ?? '', /^token: has the wrong form/);
  });

  it('refuses control-channel certificates from another CA, for parts never enrolled, or not the one issued', async () => {
    const caPem = readFileSync(join(c.serverDir, 'ca.pem'), 'utf8');
    const realCa = { certPem: caPem, keyPem: readFileSync(join(c.serverDir, 'ca-key.pem'), 'utf8') };
    const otherCa = await createCertificateAuthority('Another CA');
    const leaf = async (ca: typeof otherCa, part: PartIdentity) => {
      const { keyPem, csrPem } = await createPartRequest(part);
      return { keyPem, certPem: await issuePartCertificate(ca, csrPem, part) };
    };
    const cases: [string, { keyPem: string; certPem: string } | undefined][] = [
      ['no certificate', undefined],
      ['another CA, naming enrolled agent a1', await leaf(otherCa, { kind: 'agent', name: 'a1' })],
      ['another CA, naming storage s1', await leaf(otherCa, { kind: 'storage', name: 's1' })],
      ['another CA, a new agent', await leaf(otherCa, { kind: 'agent', name: 'ghost' })],
      ['the CA, an agent never enrolled', await leaf(realCa, { kind: 'agent', name: 'ghost' })],
      ['the CA, agent a1 but not the certificate it was issued', await leaf(realCa, { kind: 'agent', name: 'a1' })],
      ['the CA, the server itself', await leaf(realCa, { kind: 'server', name: 'server' })],
    ];
    const logged = () => c.server.stderr().split('\n').filter((l) => /control: refused /.test(l)).length;
    for (const [label, identity] of cases) {
      const before = logged();
      const { result: status } = await unchanged(api, () => dialControl(c.url, caPem, identity));
      assert.equal(status, 401, label);
      await until(() => logged() > before, `${label}: the refusal is not in the server's log`);
    }
    const agents = await c.json<{ name: string; status: string }[]>(['agent', 'list']);
    assert.deepEqual(
      agents.map((a) => [a.name, a.status]),
      [
        ['a1', 'online'],
        ['a2', 'online'],
      ],
    );
  });

  /** The daemon's exit status, once it has exited. */
  async function exited(d: Daemon): Promise<number | null> {
    if (d.process.exitCode === null && d.process.signalCode === null) await new Promise((r) => d.process.once('exit', r));
    return d.process.exitCode;
  }

  /** One stderr line saying the part was removed, no stack trace. */
  function saysRemoved(stderr: string, kind: 'agent' | 'storage', name: string): void {
    const line = new RegExp(`^cairn ${kind}: ${kind} ${name} was removed from the backup server at ${c.url.replace(/[.]/g, '\\.')} by an administrator; stopping$`, 'm');
    assert.match(stderr, line);
    assert.equal(stderr.split('\n').filter((l) => /was removed/.test(l)).length, 1, stderr);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  }

  it('refuses an agent an admin removed, from then on: its daemon stops saying so (exit 1)', async () => {
    await cliRefused(c, api, ['agent', 'remove', 'nope'], { exit: 1, message: /^cairn: no agent named nope$/, audit: { what: 'DELETE /api/agents/nope', result: 'E_NOT_FOUND' } });
    // (the server logs each refused control-channel dial; earlier tests caused some already)
    const refusals = () => c.server.stderr().split('\n').filter((l) => /control: refused agent a1 /.test(l)).length;
    const beforeRemoval = refusals();
    const removed = await c.cli(['agent', 'remove', 'a1']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(await partNames('agent'), ['a2']);
    // its daemon redials, is refused as removed, and stops instead of retrying
    const a1 = c.agents.get('a1')!;
    assert.equal(await exited(a1), 1, a1.stderr());
    saysRemoved(a1.stderr(), 'agent', 'a1');
    await until(() => refusals() > beforeRemoval, `the server never refused a1's redial:\n${c.server.stderr()}`);
    // restarted from its data folder, refused again, and it stops again
    const before = refusals();
    const again = await runCairn(['agent', 'start', '--data', a1.dataDir], { CAIRN_TOKEN: '' });
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stdout, /^agent a1 started\nagent key fingerprint: [0-9a-f]{64}\n$/);
    saysRemoved(again.stderr, 'agent', 'a1');
    assert.ok(refusals() > before, 'the restarted removed agent was not refused');
    assert.deepEqual(await partNames('agent'), ['a2']);
    // and nothing can be given to it
    await cliRefused(c, api, ['job', 'create', 'for-a1', '--agent', 'a1', '--storage', 's1', '--path', '/tmp'], { exit: 1, message: /^cairn: no agent named a1$/ });
    const { result: answer } = await unchanged(api, () => api.call('/api/jobs', { body: { name: 'for-a1', agent: 'a1', storage: 's1', vault: 'admin.s1', paths: ['/tmp'] } }));
    assert.equal(answer.status, 404, answer.text);
    assert.match(errorOf(answer).message ?? '', /^no agent named a1$/);
    await cliRefused(c, api, ['agent', 'remove', 'a1'], { exit: 1, message: /^cairn: no agent named a1$/, audit: { what: 'DELETE /api/agents/a1', result: 'E_NOT_FOUND' } });
  });

  it('stops a storage server an admin removed, saying so (exit 1), and again when restarted', async () => {
    const removed = await c.cli(['storage', 'remove', 's1']);
    assert.equal(removed.code, 0, removed.stderr);
    const s1 = c.storages.get('s1')!;
    assert.equal(await exited(s1), 1, s1.stderr());
    saysRemoved(s1.stderr(), 'storage', 's1');
    const again = await runCairn(['storage', 'start', '--data', s1.dataDir], { CAIRN_TOKEN: '' });
    assert.equal(again.code, 1, again.stderr);
    saysRemoved(again.stderr, 'storage', 's1');
    assert.ok(!(await partNames('storage')).includes('s1'));
  });
});

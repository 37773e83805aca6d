// `cairn vault scrub V` end to end, as real processes: the backup server has the vault's storage
// server re-hash every pack file without keys. A clean vault after two backups scrubs clean
// (exit 0) counting every pack byte on disk; a byte flipped in one pack names exactly that pack
// with the hash mismatch, a deleted pack file is named as missing (exit 1). Bad input: an unknown
// vault, another owner's vault for a `user`, an auditor, usage errors, a body with fields, an
// offline storage server; none of them, nor any scrub, changes a stored file.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson, ScrubJson, VaultJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { auditCount, auditSince, type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused, httpRefused } from './support/refusals.ts';
import { pseudoRandom } from './support/tree-builder.ts';

const VAULT = 'admin.s1';
const SCRUB_PATH = `/api/vaults/${VAULT}/scrub`;

/** Every file under the vault's packs/ (relative path → size): what a scrub must never change. */
function packListing(c: Cluster): Map<string, number> {
  const dir = join(c.storages.get('s1')!.dataDir, 'vaults', VAULT, 'packs');
  const files = new Map<string, number>();
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(join(dir, rel));
    if (st.isFile()) files.set(rel, st.size);
  }
  return files;
}

function packPath(c: Cluster, name: string): string {
  return join(c.storages.get('s1')!.dataDir, 'vaults', VAULT, 'packs', name.slice(0, 2), name);
}

function packNames(c: Cluster): string[] {
  return [...packListing(c).keys()].map((rel) => rel.split('/').pop()!).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
}

async function scrubJson(c: Cluster, env: Record<string, string> = {}): Promise<{ code: number; report: ScrubJson; stderr: string }> {
  const r = await c.cli(['vault', 'scrub', VAULT, '--json'], undefined, env);
  assert.ok(r.stdout.trim().startsWith('{'), `vault scrub printed no report (${r.code}): ${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as ScrubJson, stderr: r.stderr };
}

describe('vault scrub', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    api = rawApi(c);
    const src = join(tempDir('cairn-scrub-src-'), 'data');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.bin'), pseudoRandom(2 * 1024 * 1024 + 3, 31));
    writeFileSync(join(src, 'sub', 'b.txt'), 'beta\n');
    const made = await c.cli(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src, '--json']);
    assert.equal(made.code, 0, made.stderr);
    const first = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(first.status, 'succeeded', JSON.stringify(first));
    // a second backup with new content: more packs, so one can be damaged and another deleted
    writeFileSync(join(src, 'c.bin'), pseudoRandom(1024 * 1024 + 9, 32));
    const second = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(second.status, 'succeeded', JSON.stringify(second));
    const vaults = await c.json<VaultJson[]>(['vault', 'list']);
    assert.deepEqual(vaults.map((v) => v.name), [VAULT]);
    const bob = await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], 'bob-password-for-tests\n');
    assert.equal(bob.code, 0, bob.stderr);
    const aud = await c.cli(['user', 'add', 'aud', '--role', 'auditor', '--password-stdin'], 'auditor-password-for-tests\n');
    assert.equal(aud.code, 0, aud.stderr);
  });

  after(async () => {
    await c?.stop();
  });

  it('a clean vault scrubs clean: exit 0, every pack byte on disk counted, audited', async () => {
    const files = packListing(c);
    const count = await auditCount(api);
    const { code, report, stderr } = await scrubJson(c);
    assert.equal(code, 0, stderr);
    assert.equal(report.vault, VAULT);
    assert.equal(report.storage, 's1');
    assert.deepEqual(report.damaged, []);
    assert.equal(report.damagedTotal, 0);
    assert.ok(report.packs >= 2, `want at least 2 packs, got ${report.packs}`);
    assert.equal(report.packs, packNames(c).length);
    assert.equal(report.bytes, [...files.values()].reduce((a, b) => a + b, 0));
    assert.deepEqual(Object.keys(report).sort(), ['bytes', 'damaged', 'damagedTotal', 'packs', 'storage', 'vault']);
    const audit = await auditSince(api, count);
    assert.ok(audit.some((e) => e.what === `POST ${SCRUB_PATH}` && e.result === 'ok' && e.who === 'admin'), JSON.stringify(audit));

    const text = await c.cli(['vault', 'scrub', VAULT]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `vault ${VAULT} on s1: ${report.packs} packs, ${report.bytes} bytes checked, 0 damaged\n`);
    assert.equal(text.stderr, '');
    assert.deepEqual(packListing(c), files, 'a scrub changed stored files');
  });

  it('names a pack with a flipped byte (hash mismatch) and a deleted one (missing), exit 1', async () => {
    const [flipped, deleted] = packNames(c);
    assert.ok(flipped && deleted);
    const path = packPath(c, flipped);
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, Buffer.of(bytes[at]! ^ 0x5a), 0, 1, at);
    } finally {
      closeSync(fd);
    }
    const one = await scrubJson(c);
    assert.equal(one.code, 1, one.stderr);
    assert.equal(one.report.damaged.length, 1, JSON.stringify(one.report.damaged));
    assert.equal(one.report.damagedTotal, 1);
    assert.equal(one.report.damaged[0]!.pack, flipped);
    assert.match(one.report.damaged[0]!.reason, /^content does not match its name \(SHA-256 [0-9a-f]{64}\)$/);
    assert.doesNotMatch(one.report.damaged[0]!.reason, new RegExp(flipped));

    const deletedSize = statSync(packPath(c, deleted)).size;
    const packsBefore = one.report.packs;
    rmSync(packPath(c, deleted));
    const files = packListing(c);
    const two = await scrubJson(c);
    assert.equal(two.code, 1, two.stderr);
    assert.deepEqual(
      two.report.damaged.map((d) => d.pack).sort(),
      [flipped, deleted].sort(),
      JSON.stringify(two.report.damaged),
    );
    assert.equal(two.report.damaged.find((d) => d.pack === deleted)!.reason, 'indexed but its file is missing');
    assert.equal(two.report.packs, packsBefore - 1);
    assert.equal(two.report.bytes, one.report.bytes - deletedSize);

    // for people: a line per damaged pack on stdout, the summary as the one-line failure on stderr
    const text = await c.cli(['vault', 'scrub', VAULT]);
    assert.equal(text.code, 1);
    const lines = text.stdout.trim().split('\n').sort();
    assert.equal(lines.length, 2, text.stdout);
    assert.ok(lines.includes(`damaged ${deleted}: indexed but its file is missing`), text.stdout);
    assert.ok(lines.some((l) => l.startsWith(`damaged ${flipped}: content does not match its name`)), text.stdout);
    assert.equal(text.stderr, `cairn: vault ${VAULT} on s1: ${two.report.packs} packs, ${two.report.bytes} bytes checked, 2 damaged\n`);
    assert.deepEqual(packListing(c), files, 'a scrub changed stored files');
  });

  it('refuses an unknown vault, usage errors, a body with fields, an auditor, and a user on a vault it does not own', async () => {
    const files = packListing(c);
    await cliRefused(c, api, ['vault', 'scrub', 'nope'], { exit: 1, message: /no vault named nope/, audit: { what: 'POST /api/vaults/nope/scrub', result: 'E_NOT_FOUND' } });
    await cliRefused(c, api, ['vault', 'scrub'], { exit: 2, message: /vault scrub/ });
    await cliRefused(c, api, ['vault', 'scrub', VAULT, 'extra'], { exit: 2, message: /vault scrub/ });
    await cliRefused(c, api, ['vault', 'scrub', VAULT, '--deep'], { exit: 2, message: /deep/ });
    await httpRefused(api, SCRUB_PATH, { body: { deep: true } }, {
      status: 400,
      code: 'E_BAD_REQUEST',
      message: /deep: is not a known field/,
      audit: { what: `POST ${SCRUB_PATH}`, result: 'E_BAD_REQUEST' },
    });

    const asAuditor = { CAIRN_CONFIG: join(tempDir('cairn-scrub-aud-'), 'cli.json') };
    const audLogin = await c.cli(['login', c.url, '--user', 'aud', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'auditor-password-for-tests\n', asAuditor);
    assert.equal(audLogin.code, 0, audLogin.stderr);
    await cliRefused(c, api, ['vault', 'scrub', VAULT], { exit: 1, env: asAuditor, message: /role auditor may not POST/, audit: { what: `POST ${SCRUB_PATH}`, result: 'E_FORBIDDEN', who: 'aud' } });

    // a `user` is refused another owner's vault as if it did not exist (docs/control-plane.md)
    const asBob = { CAIRN_CONFIG: join(tempDir('cairn-scrub-bob-'), 'cli.json') };
    const bobLogin = await c.cli(['login', c.url, '--user', 'bob', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'bob-password-for-tests\n', asBob);
    assert.equal(bobLogin.code, 0, bobLogin.stderr);
    await cliRefused(c, api, ['vault', 'scrub', VAULT], { exit: 1, env: asBob, message: new RegExp(`no vault named ${VAULT}`), audit: { what: `POST ${SCRUB_PATH}`, result: 'E_NOT_FOUND', who: 'bob' } });
    const bobToken = (JSON.parse(readFileSync(asBob.CAIRN_CONFIG, 'utf8')) as { token: string }).token;
    await httpRefused(api, SCRUB_PATH, { method: 'POST', token: bobToken }, {
      status: 404,
      code: 'E_NOT_FOUND',
      message: new RegExp(`no vault named ${VAULT}`),
      audit: { what: `POST ${SCRUB_PATH}`, result: 'E_NOT_FOUND', who: 'bob' },
    });
    assert.deepEqual(packListing(c), files, 'a refused scrub changed stored files');
  });

  it('an offline storage server: exit 1 saying so, 503 on the API, nothing changed', async () => {
    const files = packListing(c);
    await c.storages.get('s1')!.stop();
    for (let i = 0; i < 300; i++) {
      const storages = await c.json<{ name: string; status: string }[]>(['storage', 'list']);
      if (storages.find((s) => s.name === 's1')?.status === 'offline') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await cliRefused(c, api, ['vault', 'scrub', VAULT], { exit: 1, message: /storage s1 is offline/, audit: { what: `POST ${SCRUB_PATH}`, result: 'E_UNAVAILABLE' } });
    const a = await api.call(SCRUB_PATH, { method: 'POST' });
    assert.equal(a.status, 503, a.text);
    assert.match((a.json as { error: { message: string } }).error.message, /^storage s1 is offline: vault admin\.s1 cannot be scrubbed until it is back$/);
    assert.deepEqual(packListing(c), files);
  });
});

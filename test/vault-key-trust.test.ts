// Vault keys out of the backup server's reach, on real processes (issue 13, item 1): the console
// pins each agent's key fingerprint and refuses a key the server substituted; agent copies are
// bound to their vault and checked against the vault's key-check value and the agent's pin before
// anything is written; a storage server refuses a key file that changes the keys; legacy (ak1)
// copies keep working with one warning line per run.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { agentKeyFingerprint, generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, type KeyFile, parseKeyFile, unwrapKeys, wrapKeys } from '../src/core/keys.ts';
import type { PartJson, RunJson, SnapshotJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused } from './support/refusals.ts';

const PASS = 'vault key trust passphrase';
const PASSPHRASE = { CAIRN_PASSPHRASE: PASS };
const LEGACY_LINE = /^vault old: legacy key wrap without a vault binding; re-grant with 'cairn vault grant' to bind it$/;

describe('vault keys the backup server cannot steal or swap', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let src: string;

  before(async () => {
    c = await startCluster({ agents: ['a1', 'a2'], storages: ['s1'] });
    api = rawApi(c);
    src = join(tempDir('cairn-keytrust-src-'), 'data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'file.txt'), 'vault key trust\n');
  });
  after(async () => {
    await c?.stop();
  });

  const loginFile = () => join(dirname(c.serverDir), 'cli.json');
  const pins = () => (JSON.parse(readFileSync(loginFile(), 'utf8')) as { agentKeys?: Record<string, Record<string, string>> }).agentKeys?.[c.url] ?? {};
  const vaultJson = (vault: string) => join(c.storages.get('s1')!.dataDir, 'vaults', vault, 'vault.json');
  const storedKeyFile = (vault: string) => (JSON.parse(readFileSync(vaultJson(vault), 'utf8')) as { keyFile: KeyFile }).keyFile;
  const agentPublicKey = (agent: string) =>
    createPublicKey(createPrivateKey(readFileSync(join(c.agents.get(agent)!.dataDir, 'agent-key.pem'), 'utf8')))
      .export({ type: 'spki', format: 'pem' })
      .toString();
  const served = async (agent: string) => (await c.json<PartJson[]>(['agent', 'list'])).find((p) => p.name === agent)!.keyFingerprint!;

  function catalog<T>(use: (db: DatabaseSync) => T, readOnly = true): T {
    const db = new DatabaseSync(join(c.serverDir, 'catalog.db'), { readOnly });
    try {
      return use(db);
    } finally {
      db.close();
    }
  }
  const wrappedIn = (vault: string, agent: string) =>
    catalog(
      (db) =>
        (
          db
            .prepare('SELECT k.wrapped FROM vault_agent_keys k JOIN vaults v ON v.id = k.vault_id JOIN agents a ON a.id = k.agent_id WHERE v.name = ? AND a.name = ?')
            .get(vault, agent) as { wrapped: string } | undefined
        )?.wrapped,
    );
  const catalogKeyFile = (vault: string) => catalog((db) => (db.prepare('SELECT key_file FROM vaults WHERE name = ?').get(vault) as { key_file: string }).key_file);
  /** Changes the catalog while the server is stopped, then starts it again and waits for the parts. */
  async function editCatalog(edit: (db: DatabaseSync) => void): Promise<void> {
    await c.server.stop();
    catalog(edit, false);
    await c.restartServer();
    for (const a of ['a1', 'a2']) await c.waitOnline('agent', a);
    await c.waitOnline('storage', 's1');
  }

  /** What the vault holds on the storage server: its packs and snapshots (name and size) and vault.json. */
  function vaultState(vault: string): string {
    const dir = dirname(vaultJson(vault));
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [`${join(d, e.name)} ${statSync(join(d, e.name)).size}`]));
    return JSON.stringify([walk(join(dir, 'packs')), walk(join(dir, 'snapshots')), readFileSync(vaultJson(vault), 'utf8')]);
  }

  async function runJob(job: string): Promise<{ code: number; run: RunJson; log: string[] }> {
    const r = await c.cli(['job', 'run', job, '--wait', '--json']);
    const run = JSON.parse(r.stdout) as RunJson;
    const log = (await c.json<{ message: string }[]>(['run', 'log', String(run.id)])).map((l) => l.message);
    return { code: r.code, run, log };
  }

  it("prints the agent key fingerprint at start and with 'cairn agent key', the same as agent list", async () => {
    for (const agent of ['a1', 'a2']) {
      const d = c.agents.get(agent)!;
      const fingerprint = agentKeyFingerprint(agentPublicKey(agent));
      assert.equal(await served(agent), fingerprint);
      assert.match(d.stdout(), new RegExp(`^agent ${agent} enrolled with \\S+\\nagent key fingerprint: ${fingerprint}\\n`));
      const json = await c.cli(['agent', 'key', '--data', d.dataDir, '--json']);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), { name: agent, keyFingerprint: fingerprint });
      const text = await c.cli(['agent', 'key', '--data', d.dataDir]);
      assert.equal(text.stdout, `agent ${agent} key fingerprint: ${fingerprint}\n`);
    }
    const table = await c.cli(['agent', 'list']);
    assert.match(table.stdout, new RegExp(await served('a1')));
    const none = await c.cli(['agent', 'key', '--data', tempDir('cairn-keytrust-none-')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^cairn: \S+ is not an enrolled agent's data folder \(no agent\.json\)\n$/);
    const usage = await c.cli(['agent', 'key']);
    assert.equal(usage.code, 2, usage.stderr);
  });

  it('job create pins the agent key, binds its copy to the vault, and the vault carries its key-check value', async () => {
    const r = await c.cli(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src], undefined, PASSPHRASE);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pins(), { a1: await served('a1') });
    assert.equal(statSync(loginFile()).mode & 0o777, 0o600);
    const keyFile = storedKeyFile('admin.s1');
    assert.match(keyFile.vaultId ?? '', /^[0-9a-f]{32}$/);
    assert.match(keyFile.check ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(catalogKeyFile('admin.s1')), keyFile);
    assert.match(wrappedIn('admin.s1', 'a1') ?? '', /^ak2\./);
    const { code, run, log } = await runJob('j1');
    assert.equal(code, 0, JSON.stringify(run));
    assert.equal(run.status, 'succeeded');
    assert.ok(!log.some((l) => /legacy key wrap/.test(l)), log.join('\n'));
    // the agent pinned the vault's check value at first use
    const agentPins = JSON.parse(readFileSync(join(c.agents.get('a1')!.dataDir, 'vault-checks.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(agentPins, { 's1/admin.s1': keyFile.check });
    assert.equal(statSync(join(c.agents.get('a1')!.dataDir, 'vault-checks.json')).mode & 0o777, 0o600);
  });

  it('refuses an agent key the server substituted, naming both fingerprints, unless --agent-key names the new one', async () => {
    const made = await c.cli(['vault', 'create', 'v2', '--storage', 's1', '--agent', 'a2'], undefined, PASSPHRASE);
    assert.equal(made.code, 0, made.stderr);
    const old = await served('a2');
    assert.equal(pins().a2, old);
    const substitute = generateAgentKeyPair();
    await editCatalog((db) => db.prepare('UPDATE agents SET public_key = ? WHERE name = ?').run(Buffer.from(substitute.publicKeyPem), 'a2'));
    const fresh = agentKeyFingerprint(substitute.publicKeyPem);
    assert.equal(await served('a2'), fresh);
    const changed = new RegExp(
      `^cairn: agent a2's key changed: pinned ${old}, server gave ${fresh}; if the agent was re-enrolled, check its fingerprint on its machine with 'cairn agent key' and pass --agent-key ${fresh}$`,
    );
    const snapshot = (await c.json<SnapshotJson[]>(['snapshot', 'list']))[0]!.id;
    const stored = () => JSON.stringify([wrappedIn('admin.s1', 'a2'), catalogKeyFile('admin.s1'), readFileSync(loginFile(), 'utf8'), vaultState('admin.s1')]);
    const before = stored();
    await cliRefused(c, api, ['vault', 'grant', 'admin.s1', '--agent', 'a2'], { exit: 1, message: changed, env: PASSPHRASE });
    await cliRefused(c, api, ['restore', snapshot, '--agent', 'a2', '--to', tempDir('cairn-keytrust-to-')], { exit: 1, message: changed, env: PASSPHRASE });
    await cliRefused(c, api, ['job', 'create', 'j2', '--agent', 'a2', '--storage', 's1', '--path', src], { exit: 1, message: changed, env: PASSPHRASE });
    // a fingerprint that is not the served key's: refused naming both
    const a1 = await served('a1');
    await cliRefused(c, api, ['vault', 'grant', 'admin.s1', '--agent', 'a2', '--agent-key', a1], {
      exit: 1,
      message: new RegExp(`^cairn: --agent-key ${a1} is not agent a2's key: server gave ${fresh}$`),
      env: PASSPHRASE,
    });
    await cliRefused(c, api, ['vault', 'grant', 'admin.s1', '--agent', 'a2', '--agent-key', 'ABC'], { exit: 2, message: /--agent-key: "ABC" is not a key fingerprint/, env: PASSPHRASE });
    await cliRefused(c, api, ['restore', snapshot, '--agent-key', fresh], { exit: 2, message: /--agent-key goes with --agent and --passphrase-stdin/ });
    assert.equal(stored(), before, 'a refused grant changed the catalog, the login file or the vault');
    assert.equal(wrappedIn('admin.s1', 'a2'), undefined);
    // the operator checked the new fingerprint on the agent's machine: accepted and re-pinned
    const ok = await c.cli(['vault', 'grant', 'admin.s1', '--agent', 'a2', '--agent-key', fresh], undefined, PASSPHRASE);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(pins().a2, fresh);
    assert.match(wrappedIn('admin.s1', 'a2') ?? '', /^ak2\./);
    assert.equal(catalogKeyFile('admin.s1'), JSON.parse(before)[1]);
  });

  it('--agent-key is checked wherever it is taken, even when nothing is wrapped', async () => {
    const [a1, a2] = [await served('a1'), await served('a2')];
    const other = agentKeyFingerprint(generateAgentKeyPair().publicKeyPem);
    const snapshot = (await c.json<SnapshotJson[]>(['snapshot', 'list']))[0]!.id;
    const pinsBefore = readFileSync(loginFile(), 'utf8');
    // a2 holds admin.s1's keys now: job create wraps nothing, and still refuses a fingerprint that is not a2's
    await cliRefused(c, api, ['job', 'create', 'j3', '--agent', 'a2', '--storage', 's1', '--path', src, '--agent-key', a1], {
      exit: 1,
      message: new RegExp(`^cairn: --agent-key ${a1} is not agent a2's key: server gave ${a2}$`),
    });
    await cliRefused(c, api, ['vault', 'create', 'vx', '--storage', 's1', '--agent', 'a1', '--agent', 'a2', '--agent-key', other], {
      exit: 1,
      message: new RegExp(`^cairn: --agent-key ${other} is not agent a1's key: server gave ${a1}; nor agent a2's key: server gave ${a2}$`),
      env: PASSPHRASE,
    });
    await cliRefused(c, api, ['vault', 'create', 'vx', '--storage', 's1', '--agent-key', a1], { exit: 2, message: /--agent-key goes with --agent/, env: PASSPHRASE });
    await cliRefused(c, api, ['verify', snapshot, '--level', 'catalog', '--agent-key', a1], { exit: 2, message: /--agent-key goes with --agent and --passphrase-stdin/ });
    await cliRefused(c, api, ['server', 'rebuild-catalog', '--storage', 's1', '--vault', 'admin.s1', '--agent', 'a1', '--agent-key', 'zz'], {
      exit: 2,
      message: /--agent-key: "zz" is not a key fingerprint/,
    });
    assert.equal(readFileSync(loginFile(), 'utf8'), pinsBefore);
  });

  it("an agent refuses another vault's keys before writing a byte", async () => {
    for (const args of [
      ['vault', 'create', 'vb', '--storage', 's1', '--agent', 'a1'],
      ['job', 'create', 'jb', '--agent', 'a1', '--storage', 's1', '--vault', 'vb', '--path', src],
    ]) {
      const r = await c.cli(args, undefined, PASSPHRASE);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await runJob('jb')).run.status, 'succeeded');
    writeFileSync(join(src, 'more.txt'), 'new data the refused runs would upload\n');
    const before = vaultState('vb');
    // vault admin.s1's copy for a1 moved into vault vb's row
    const aCopy = wrappedIn('admin.s1', 'a1')!;
    await editCatalog((db) =>
      db
        .prepare("UPDATE vault_agent_keys SET wrapped = ? WHERE vault_id = (SELECT id FROM vaults WHERE name = 'vb') AND agent_id = (SELECT id FROM agents WHERE name = 'a1')")
        .run(aCopy),
    );
    const bound = await runJob('jb');
    assert.equal(bound.code, 1);
    assert.equal(bound.run.status, 'failed');
    assert.match(bound.run.error ?? '', /vault vb: the keys sent for it are bound to another vault \(id [0-9a-f]{32}; this vault's is [0-9a-f]{32}\); refused before writing anything/);
    assert.equal(vaultState('vb'), before);
    // the same keys as a legacy copy (no vault binding): the key-check value catches them
    const keys = await unwrapKeys(parseKeyFile(JSON.parse(catalogKeyFile('admin.s1'))), PASS);
    const put = await api.call('/api/vaults/vb/agents/a1', { method: 'PUT', body: { wrapped: wrapForAgent(keys, agentPublicKey('a1')) } });
    assert.equal(put.status, 200, put.text);
    const unbound = await runJob('jb');
    assert.equal(unbound.run.status, 'failed');
    assert.match(unbound.run.error ?? '', /vault vb: the keys sent for it are not its keys \(key-check value [0-9a-f]{64}; the vault's is [0-9a-f]{64}\); refused before writing anything/);
    assert.equal(vaultState('vb'), before);
  });

  it('the storage server refuses a key file that changes the keys; vault passwd (same keys) works', async () => {
    const current = storedKeyFile('admin.s1');
    const catalogBefore = catalogKeyFile('admin.s1');
    const before = readFileSync(vaultJson('admin.s1'), 'utf8');
    const other = await wrapKeys(generateVaultKeys(), 'attacker passphrase', current.vaultId);
    const a = await api.call('/api/vaults/admin.s1/key-file', { method: 'PUT', body: { keyFile: other } });
    assert.equal(a.status, 409, a.text);
    assert.equal(errorOf(a).code, 'E_CONFLICT');
    assert.match(errorOf(a).message ?? '', new RegExp(`key-check value \\(${other.check}\\) differs from the vault's \\(${current.check}\\); a key file may only re-wrap the same keys`));
    const dropped = await api.call('/api/vaults/admin.s1/key-file', { method: 'PUT', body: { keyFile: { ...current, check: undefined, nonce: other.nonce } } });
    assert.equal(dropped.status, 409, dropped.text);
    assert.equal(readFileSync(vaultJson('admin.s1'), 'utf8'), before);
    assert.equal(catalogKeyFile('admin.s1'), catalogBefore);
    const passwd = await c.cli(['vault', 'passwd', 'admin.s1'], `${PASS}\nnew ${PASS}\n`);
    assert.equal(passwd.code, 0, passwd.stderr);
    const after = storedKeyFile('admin.s1');
    assert.notEqual(after.sealed, current.sealed);
    assert.equal(after.check, current.check);
    assert.equal(after.vaultId, current.vaultId);
    assert.deepEqual(JSON.parse(catalogKeyFile('admin.s1')), after);
    assert.equal((await runJob('j1')).run.status, 'succeeded');
  });

  it('a legacy (ak1) copy still backs up and restores with one warning line, until a grant binds it', async () => {
    const keys = generateVaultKeys();
    const { vaultId: _id, check: _check, ...legacyFile } = await wrapKeys(keys, PASS);
    const made = await api.call('/api/vaults', {
      body: { name: 'old', storage: 's1', chunker: DEFAULT_CHUNKER, keyFile: legacyFile, agentKeys: { a1: wrapForAgent(keys, agentPublicKey('a1')) } },
    });
    assert.equal(made.status, 201, made.text);
    const job = await c.cli(['job', 'create', 'jl', '--agent', 'a1', '--storage', 's1', '--vault', 'old', '--path', src]);
    assert.equal(job.code, 0, job.stderr);
    const backup = await runJob('jl');
    assert.equal(backup.run.status, 'succeeded', JSON.stringify(backup.run));
    assert.equal(backup.log.filter((l) => LEGACY_LINE.test(l)).length, 1, backup.log.join('\n'));
    const to = tempDir('cairn-keytrust-restore-');
    const restored = await c.cli(['restore', backup.run.snapshot!, '--to', to, '--wait', '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    const restoreRun = JSON.parse(restored.stdout) as RunJson;
    assert.equal(readFileSync(join(to, src, 'file.txt'), 'utf8'), 'vault key trust\n');
    const restoreLog = (await c.json<{ message: string }[]>(['run', 'log', String(restoreRun.id)])).map((l) => l.message);
    assert.equal(restoreLog.filter((l) => LEGACY_LINE.test(l)).length, 1, restoreLog.join('\n'));
    // the vault has no check value yet: the agent's pin (set at that first use) still catches other keys
    const pinned = JSON.parse(readFileSync(join(c.agents.get('a1')!.dataDir, 'vault-checks.json'), 'utf8')) as Record<string, string>;
    assert.match(pinned['s1/old'] ?? '', /^[0-9a-f]{64}$/);
    const before = vaultState('old');
    const swapped = await api.call('/api/vaults/old/agents/a1', { method: 'PUT', body: { wrapped: wrapForAgent(generateVaultKeys(), agentPublicKey('a1')) } });
    assert.equal(swapped.status, 200, swapped.text);
    const refused = await runJob('jl');
    assert.equal(refused.run.status, 'failed');
    assert.match(refused.run.error ?? '', new RegExp(`vault old: the keys sent for it are not the ones this agent pinned at its first use \\(key-check value pinned ${pinned['s1/old']}, these keys give [0-9a-f]{64}\\); refused before writing anything`));
    assert.equal(vaultState('old'), before);
    // a console grant (with the passphrase) gives the vault its id and check value and binds the copy
    const grant = await c.cli(['vault', 'grant', 'old', '--agent', 'a1'], undefined, PASSPHRASE);
    assert.equal(grant.code, 0, grant.stderr);
    const upgraded = storedKeyFile('old');
    assert.equal(upgraded.check, pinned['s1/old']);
    assert.match(upgraded.vaultId ?? '', /^[0-9a-f]{32}$/);
    assert.equal(upgraded.sealed, legacyFile.sealed);
    assert.deepEqual(JSON.parse(catalogKeyFile('old')), upgraded);
    assert.match(wrappedIn('old', 'a1') ?? '', /^ak2\./);
    const bound = await runJob('jl');
    assert.equal(bound.run.status, 'succeeded', JSON.stringify(bound.run));
    assert.ok(!bound.log.some((l) => /legacy key wrap/.test(l)), bound.log.join('\n'));
  });
});

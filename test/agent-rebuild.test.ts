// The agent's side of a catalog rebuild (run-rebuild.ts) against a real standalone storage
// server: the file index it walks from a snapshot's trees is exactly the one the backup sent,
// in batches whose last one says so; snapshots the server already knows are not walked; a
// snapshot whose record is damaged is skipped with a warning and the others still come through.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackup } from '../src/agent/run-backup.ts';
import type { RunContext } from '../src/agent/run-context.ts';
import { runRebuild } from '../src/agent/run-rebuild.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, newVaultId, wrapKeys } from '../src/core/keys.ts';
import {
  type BackupResult,
  INDEX_BATCH,
  type IndexEntryWire,
  type RebuildIndexParams,
  type RebuildParams,
  type SnapshotFoundParams,
  type SnapshotIndexParams,
} from '../src/protocol/control.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';
import { pseudoRandom } from './support/tree-builder.ts';

const VAULT = 'rebuilt';
const keys = generateVaultKeys();
/** the vault's id, which the agent's copy of its keys names */
const vaultId = newVaultId();
const agentKey = generateAgentKeyPair();
const wrapped = wrapForAgent(keys, agentKey.publicKeyPem, vaultId);
/** A grant as the server writes one; the standalone storage server does not look at it. */
const grant = `${Buffer.from(JSON.stringify({ exp: Date.now() + 3_600_000 })).toString('base64url')}.sig`;

type Recorded = { method: string; params: unknown };

const sortEntries = (entries: IndexEntryWire[]) => entries.map((e) => JSON.stringify(e)).sort();

describe('agent catalog rebuild', () => {
  let server: StorageProcess;
  let ca: string;
  let accessKey: string;
  let work: string;
  const backups: { result: BackupResult; index: IndexEntryWire[] }[] = [];

  /** A context whose `call` records everything and answers snapshotFound with `known(id)`. */
  const context = (calls: Recorded[], known: (id: string) => boolean = () => false): RunContext => ({
    call: async (method, params) => {
      calls.push({ method, params });
      if (method === 'snapshotFound') return { known: known((params as SnapshotFoundParams).snapshot) };
      return method === 'renewGrant' || method === 'rebuildGrant' ? { grant } : {};
    },
    event: () => undefined,
    agentKeyPem: agentKey.privateKeyPem,
    storageClient: () => new StorageClient({ url: server.url, ca, accessKey }),
    host: 'test-host',
    tmpDir: join(work, 'agent-data', 'tmp'),
    workers: 2,
  });

  const rebuildParams = (): RebuildParams => ({ storage: { name: 's1', url: server.url }, vault: VAULT, grant, keys: wrapped, rebuild: 3 });

  const indexOf = (calls: Recorded[], snapshot: string) =>
    calls.filter((c) => c.method === 'rebuildIndex' && (c.params as RebuildIndexParams).snapshot === snapshot).map((c) => c.params as RebuildIndexParams);

  before(async () => {
    server = await startStorage();
    ca = fs.readFileSync(server.caFile, 'utf8');
    accessKey = fs.readFileSync(server.accessKeyFile, 'utf8').trim();
    const admin = new StorageClient({ url: server.url, ca, accessKey });
    await admin.createVault(VAULT, { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'pw pw pw pw', vaultId) });
    admin.close();
    work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-agent-rebuild-')));
    const src = join(work, 'src');
    fs.mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    fs.mkdirSync(join(src, 'empty'));
    for (let i = 0; i < 70; i++) fs.mkdirSync(join(src, 'many', `d${i}`), { recursive: true }); // more siblings than one fetch group
    fs.writeFileSync(join(src, 'many', 'd69', 'last.txt'), 'in the 70th sibling\n');
    for (let i = 0; i < INDEX_BATCH; i++) fs.writeFileSync(join(src, 'many', 'd0', `f${i}`), ''); // an index of more than one batch
    fs.writeFileSync(join(src, 'a.txt'), 'alpha\n');
    fs.writeFileSync(join(src, 'sub', 'big.bin'), pseudoRandom(1_500_000, 1));
    fs.writeFileSync(Buffer.concat([Buffer.from(`${src}/sub/deeper/`), Buffer.from([0x6e, 0xe9, 0xff])]), 'odd name');
    fs.symlinkSync('a.txt', join(src, 'link'));
    for (const change of [() => undefined, () => fs.writeFileSync(join(src, 'b.txt'), 'beta\n')]) {
      change();
      const calls: Recorded[] = [];
      const result = await runBackup(
        { run: 7, job: 'j', level: 'full', paths: [src], excludes: [], storage: { name: 's1', url: server.url }, vault: VAULT, grant, keys: wrapped, forceRead: true },
        context(calls),
      );
      const index = calls.filter((c) => c.method === 'snapshotIndex').flatMap((c) => (c.params as SnapshotIndexParams).entries);
      backups.push({ result, index });
    }
  });

  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("walks each new snapshot's trees into the same index the backup sent, oldest first", async () => {
    const calls: Recorded[] = [];
    const result = await runRebuild(rebuildParams(), context(calls));
    assert.deepEqual(result, { snapshots: 2, files: backups[0]!.result.files + backups[1]!.result.files, warnings: [] });
    const found = calls.filter((c) => c.method === 'snapshotFound').map((c) => c.params as SnapshotFoundParams);
    assert.deepEqual(
      found.map((f) => [f.rebuild, f.snapshot, f.time, f.host, f.counters.files, f.counters.bytes]),
      backups.map((b) => [3, b.result.snapshot, b.result.time, 'test-host', b.result.files, b.result.bytes]),
    );
    for (const b of backups) {
      const batches = indexOf(calls, b.result.snapshot);
      assert.equal(batches.length, 2);
      assert.deepEqual(batches.map((p) => p.last), [...batches.slice(1).map(() => false), true], 'only the last batch is marked');
      assert.ok(batches.every((p) => p.run === 3));
      assert.deepEqual(sortEntries(batches.flatMap((p) => p.entries)), sortEntries(b.index));
    }
    // each snapshot's index follows its own snapshotFound
    const order = calls.filter((c) => c.method !== 'rebuildGrant').map((c) => `${c.method}:${(c.params as { snapshot: string }).snapshot}`);
    const firstId = backups[0]!.result.snapshot;
    assert.equal(order[0], `snapshotFound:${firstId}`);
    assert.equal(order.indexOf(`snapshotFound:${backups[1]!.result.snapshot}`), order.lastIndexOf(`rebuildIndex:${firstId}`) + 1);
  });

  it('does not walk snapshots the server already has', async () => {
    const calls: Recorded[] = [];
    const older = backups[0]!.result.snapshot;
    const result = await runRebuild(rebuildParams(), context(calls, (id) => id === older));
    assert.deepEqual(result, { snapshots: 1, files: backups[1]!.result.files, warnings: [] });
    assert.deepEqual(indexOf(calls, older), []);
    assert.ok(indexOf(calls, backups[1]!.result.snapshot).length > 0);
  });

  it('skips a snapshot whose record is damaged, with a warning, and rebuilds the others', async () => {
    const damaged = backups[0]!.result.snapshot;
    const snap = join(server.dataDir, 'vaults', VAULT, 'snapshots', `${damaged}.snap`);
    const bytes = fs.readFileSync(snap);
    bytes[bytes.length - 5]! ^= 0xff;
    fs.writeFileSync(snap, bytes);
    const calls: Recorded[] = [];
    const result = await runRebuild(rebuildParams(), context(calls));
    assert.equal(result.snapshots, 1);
    assert.equal(result.files, backups[1]!.result.files);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!.reason, new RegExp(`^snapshot ${damaged}: record unreadable`));
    assert.deepEqual(
      calls.filter((c) => c.method === 'snapshotFound').map((c) => (c.params as SnapshotFoundParams).snapshot),
      [backups[1]!.result.snapshot],
    );
  });
});

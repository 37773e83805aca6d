// The tripartite system end to end, as real processes on 127.0.0.1 over mutual TLS: for each
// topology (1 agent + 1 storage, 1 + 2, 3 + 1, 3 + 2) one backup job per agent and storage pair,
// the jobs of the last topology running at the same time, and every snapshot restored through
// the CLI to another folder, rsync-identical to its source.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseKeyFile, unwrapKeys } from '../src/core/keys.ts';
import type { RunJson, SnapshotJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { buildHardTree, pseudoRandom } from './support/tree-builder.ts';

const PASSPHRASE = 'correct horse battery staple for tests';

function sourceTree(seed: number): string {
  const root = tempDir('cairn-src-');
  const src = join(root, 'data');
  buildHardTree(src);
  mkdirSync(join(src, 'more'), { recursive: true });
  writeFileSync(join(src, 'more', 'big.bin'), pseudoRandom(3 * 1024 * 1024 + seed, seed));
  return src;
}

function assertIdentical(src: string, restored: string): void {
  const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src}/`, `${restored}/`], { encoding: 'utf8' });
  assert.equal(rsync.status, 0, rsync.stderr);
  assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
}

/** One job per (agent, storage) pair in turn; the vault of each storage is created by the first job on it. */
async function createJobs(c: Cluster, agents: string[], storages: string[]) {
  const jobs: { name: string; agent: string; storage: string; src: string }[] = [];
  for (const [i, agent] of agents.entries()) {
    const storage = storages[i % storages.length]!;
    const src = sourceTree(i + 1);
    const name = `job-${agent}-${storage}`;
    const args = ['job', 'create', name, '--agent', agent, '--storage', storage, '--path', src];
    // the first job on a storage creates the default vault with this passphrase; later agents on
    // it are granted the vault's keys with the same passphrase
    const r = await c.cli([...args, '--json'], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 0, r.stderr);
    jobs.push({ name, agent, storage, src });
  }
  return jobs;
}

async function backupAndRestoreAll(c: Cluster, agents: string[], storages: string[]) {
  const jobs = await createJobs(c, agents, storages);
  // all jobs at once
  const queued = await Promise.all(jobs.map((j) => c.json<RunJson>(['job', 'run', j.name])));
  for (const q of queued) assert.equal(q.kind, 'backup');
  const ended = await Promise.all(queued.map((q) => c.cli(['run', 'watch', String(q.id)])));
  for (const [i, r] of ended.entries()) assert.equal(r.code, 0, `run ${queued[i]!.id}: ${r.stderr}`);
  for (const j of jobs) {
    const [run] = await c.json<RunJson[]>(['run', 'list']).then((runs) => runs.filter((r) => r.job === j.name));
    assert.ok(run, `a run of ${j.name}`);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.level, 'full', 'a first backup runs as full');
    assert.ok(run.files > 5 && run.bytes > 3 * 1024 * 1024, JSON.stringify(run));
    const snaps = await c.json<SnapshotJson[]>(['snapshot', 'list', '--job', j.name]);
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0]!.id, run.snapshot);
    assert.equal(snaps[0]!.agent, j.agent);
    assert.equal(snaps[0]!.storage, j.storage);
    // browse without the agent: the catalog's file index
    const ls = await c.json<{ name: string; type: string }[]>(['snapshot', 'ls', run.snapshot!, join(j.src, 'more')]);
    assert.deepEqual(
      ls.map((e) => [e.name, e.type]),
      [['big.bin', 'file']],
    );
    const to = tempDir('cairn-restore-');
    const restored = await c.json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    assertIdentical(j.src, join(to, j.src));
  }
  // a machine lost: its snapshot restored on another agent, which gets the vault's keys from a
  // console that knows the passphrase
  if (agents.length > 1) {
    const lost = jobs[0]!;
    const other = agents.find((a) => a !== lost.agent)!;
    const [snap] = await c.json<SnapshotJson[]>(['snapshot', 'list', '--job', lost.name]);
    const to = tempDir('cairn-restore-elsewhere-');
    const r = await c.cli(['restore', snap!.id, '--agent', other, '--to', to, '--wait', '--json', '--passphrase-stdin'], `${PASSPHRASE}\n`);
    assert.equal(r.code, 0, r.stderr);
    const run = JSON.parse(r.stdout) as RunJson;
    assert.equal(run.agent, other);
    assertIdentical(lost.src, join(to, lost.src));
  }
}

describe('topologies', { concurrency: 1 }, () => {
  for (const [agentCount, storageCount] of [
    [1, 1],
    [1, 2],
    [3, 1],
    [3, 2],
  ] as const) {
    it(`1 server, ${agentCount} agent(s), ${storageCount} storage server(s): jobs back up and restore identical`, async () => {
      const agents = Array.from({ length: agentCount }, (_, i) => `agent${i + 1}`);
      const storages = Array.from({ length: storageCount }, (_, i) => `store${i + 1}`);
      const c = await startCluster({ agents, storages });
      try {
        if (storageCount === 2 && agentCount === 1) {
          // one agent, two storages: a job to each
          const src = sourceTree(7);
          for (const s of storages) {
            const r = await c.cli(['job', 'create', `to-${s}`, '--agent', 'agent1', '--storage', s, '--path', src], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
            assert.equal(r.code, 0, r.stderr);
          }
          for (const s of storages) {
            const run = await c.json<RunJson>(['job', 'run', `to-${s}`, '--wait']);
            assert.equal(run.status, 'succeeded', JSON.stringify(run));
            assert.equal(run.storage, s);
            const to = tempDir('cairn-restore-');
            const restored = await c.json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
            assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
            assertIdentical(src, join(to, src));
          }
        } else {
          await backupAndRestoreAll(c, agents, storages);
        }
        if (agentCount === 1 && storageCount === 1) {
          // a new passphrase reaches the storage server's copy of the key file too: the vault
          // restores from the storage server alone with the new one, no longer with the old
          const changed = await c.cli(['vault', 'passwd', 'admin.store1'], `${PASSPHRASE}\nan entirely new passphrase\n`);
          assert.equal(changed.code, 0, changed.stderr);
          const onStorage = JSON.parse(readFileSync(join(c.storages.get('store1')!.dataDir, 'vaults', 'admin.store1', 'vault.json'), 'utf8')) as { keyFile: unknown };
          const keys = await unwrapKeys(parseKeyFile(onStorage.keyFile), 'an entirely new passphrase');
          assert.equal(keys.encKey.length, 32);
          await assert.rejects(unwrapKeys(parseKeyFile(onStorage.keyFile), PASSPHRASE), { code: 'E_BAD_PASSPHRASE' });
        }
      } finally {
        await c.stop();
      }
    });
  }
});

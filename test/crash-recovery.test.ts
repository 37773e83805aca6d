// Crashes in the middle of a backup, with the real processes: a storage server killed with -9
// makes the run end `failed` with a one-line reason; an agent killed with -9 and restarted comes
// back without the run, which then fails as lost; the part restarted from --data alone comes back
// online; the next run succeeds without sending again what had been stored (its new bytes fall
// short of the source by what landed before the kill, and the vault holds one copy); the restore
// is rsync-identical. Then the backup server is restarted (SIGTERM, then SIGKILL and SIGTERM with
// a run in progress): every finished run is shown unchanged, the parts come back by themselves,
// and the interrupted runs are re-attached by their agent and succeed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson, SnapshotJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical, endedRun, incompressibleTree, packBytes, pollUntil, vaultSnapshots } from './support/crash-support.ts';

const PASSPHRASE = 'crash recovery passphrase for tests';
const AGENT = 'agent1';
const STORAGE = 'store1';
const VAULT = `admin.${STORAGE}`;
const MIB = 1024 * 1024;
/** the part is killed once this much more has landed in the vault: surely mid-backup, surely something stored */
const KILL_AFTER = 32 * MIB;

describe('crash recovery', { concurrency: 1 }, () => {
  let c: Cluster;
  const storageDir = () => c.storages.get(STORAGE)!.dataDir;
  const stored = () => packBytes(storageDir(), VAULT);

  before(async () => {
    c = await startCluster({ agents: [AGENT], storages: [STORAGE] });
  });
  after(async () => {
    await c?.stop();
  });

  async function createJob(name: string, mib: number): Promise<string> {
    const src = incompressibleTree(join(tempDir('cairn-crash-src-'), 'data'), 8, mib / 8);
    // no retry: the next run is the test's own
    const r = await c.cli(['job', 'create', name, '--agent', AGENT, '--storage', STORAGE, '--path', src, '--retries', '0', '--json'], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 0, r.stderr);
    return src;
  }

  /** Starts a run of `job`, kills a part once KILL_AFTER more bytes are in the vault, and returns the ended run and what landed. */
  async function runAndKill(job: string, kill: () => Promise<void>): Promise<{ failed: RunJson; landed: number }> {
    const atStart = stored();
    const queued = await c.json<RunJson>(['job', 'run', job]);
    await pollUntil(`${KILL_AFTER} bytes of run ${queued.id} in the vault`, () => stored() >= atStart + KILL_AFTER);
    await kill();
    const failed = await endedRun(c, queued.id);
    return { failed, landed: stored() - atStart };
  }

  /** The next run of `job` succeeds, does not send again what `landed`, and restores identical to `src`. */
  async function recoversWithoutResending(job: string, src: string, landed: number): Promise<RunJson> {
    const atStart = stored() - landed;
    const run = await c.json<RunJson>(['job', 'run', job, '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.level, 'full', 'the failed run left no snapshot to build on');
    assert.ok(run.bytes >= 64 * MIB, JSON.stringify(run));
    // what landed before the kill was found in the vault, not sent again
    assert.ok(run.bytesNew <= run.bytes - landed + 2 * MIB, `bytesNew ${run.bytesNew} of ${run.bytes}, ${landed} stored before the kill`);
    const inVault = stored() - atStart;
    assert.ok(inVault <= run.bytes + 2 * MIB, `the vault holds one copy of the source: ${inVault} bytes for ${run.bytes}`);
    const to = tempDir('cairn-crash-restore-');
    const restored = await c.json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    assertRsyncIdentical(src, join(to, src));
    return run;
  }

  it('kill -9 of the storage server mid-backup: the run fails with a reason, the next run resumes, the restore is identical', async () => {
    const src = await createJob('crash-storage', 160);
    const { failed, landed } = await runAndKill('crash-storage', () => c.storages.get(STORAGE)!.stop('SIGKILL'));
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
    assert.equal(failed.snapshot, null);
    assert.ok(failed.error && !failed.error.includes('\n'), `one-line error: ${failed.error}`);
    assert.match(failed.error, new RegExp(`^storage server ${STORAGE} \\(127\\.0\\.0\\.1:\\d+\\): `));

    await c.restartStorage(STORAGE);
    await c.waitOnline('storage', STORAGE);
    await recoversWithoutResending('crash-storage', src, landed);
  });

  it('kill -9 of the agent mid-backup: the agent comes back without the run, which fails as lost; the next run resumes', async () => {
    const src = await createJob('crash-agent', 160);
    const { failed, landed } = await runAndKill('crash-agent', async () => {
      await c.agents.get(AGENT)!.stop('SIGKILL');
      await c.restartAgent(AGENT);
    });
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
    assert.equal(failed.snapshot, null);
    assert.equal(failed.error, 'the agent lost the run');

    await c.waitOnline('agent', AGENT);
    await recoversWithoutResending('crash-agent', src, landed);
  });

  it('a server restart (SIGTERM when idle, SIGKILL and SIGTERM during runs) loses no finished run; parts come back by themselves', async () => {
    const finished = await c.json<RunJson[]>(['run', 'list']);
    assert.ok(finished.some((r) => r.status === 'succeeded') && finished.some((r) => r.status === 'failed'), 'earlier tests left succeeded and failed runs');
    assert.ok(finished.every((r) => r.status !== 'running' && r.status !== 'queued'));
    const partPids = [c.agents.get(AGENT)!.process.pid, c.storages.get(STORAGE)!.process.pid];
    const partsOnline = async () => {
      await c.waitOnline('agent', AGENT);
      await c.waitOnline('storage', STORAGE);
      // the same processes: they redialled on their own
      assert.deepEqual([c.agents.get(AGENT)!.process.pid, c.storages.get(STORAGE)!.process.pid], partPids);
      for (const d of [c.agents.get(AGENT)!, c.storages.get(STORAGE)!]) assert.equal(d.process.exitCode ?? d.process.signalCode, null, `${d.name} kept running`);
    };

    // SIGTERM: a clean stop
    await c.restartServer();
    assert.deepEqual(await c.json<RunJson[]>(['run', 'list']), finished);
    await partsOnline();

    // SIGKILL while a backup runs: the run stays running, the agent re-attaches it, it succeeds
    const src = await createJob('crash-server', 96);
    const atStart = stored();
    const interrupted = await c.json<RunJson>(['job', 'run', 'crash-server']);
    await pollUntil(`run ${interrupted.id} storing`, () => stored() >= atStart + 16 * MIB);
    await c.restartServer('SIGKILL');
    const after = await c.json<RunJson[]>(['run', 'list']);
    assert.deepEqual(
      after.filter((r) => r.id !== interrupted.id),
      finished,
      'every finished run as it was (ids, statuses, counters, snapshots)',
    );
    await partsOnline();
    const resumed = await endedRun(c, interrupted.id);
    assert.equal(resumed.status, 'succeeded', JSON.stringify(resumed));
    assert.doesNotMatch(c.agents.get(AGENT)!.stderr(), new RegExp(`run ${interrupted.id} abandoned`));

    // SIGTERM while a backup runs: the same
    await createJob('crash-stop', 192);
    const beforeStop = stored();
    const stopped = await c.json<RunJson>(['job', 'run', 'crash-stop']);
    await pollUntil(`run ${stopped.id} storing`, () => stored() >= beforeStop + 16 * MIB);
    await c.restartServer();
    await partsOnline();
    const stoppedShown = await endedRun(c, stopped.id);
    assert.equal(stoppedShown.status, 'succeeded', JSON.stringify(stoppedShown));
    assert.ok(stoppedShown.bytesRead >= 192 * MIB, JSON.stringify(stoppedShown));

    const again = await c.json<RunJson>(['job', 'run', 'crash-server', '--wait']);
    assert.equal(again.status, 'succeeded', JSON.stringify(again));
    const to = tempDir('cairn-crash-restore-');
    const restored = await c.json<RunJson>(['restore', again.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    assertRsyncIdentical(src, join(to, src));
    // the run that outlived the restart stays as it ended
    assert.deepEqual(await c.json<RunJson>(['run', 'show', String(interrupted.id)]), resumed);
    // the vault holds the snapshots the catalog knows, and no other
    assert.deepEqual(vaultSnapshots(storageDir(), VAULT), (await c.json<SnapshotJson[]>(['snapshot', 'list'])).map((s) => s.id).sort());
  });
});

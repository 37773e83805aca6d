// Key-less garbage collection of every vault of a storage server, safe while backups run and
// after a crash at any point. Per vault, in this order (docs/architecture.md, "Garbage
// collection", gives the safety argument):
//   1. finish what a crashed gc left: unlink the packs it retired (index rows already gone);
//   2. mark: every id the .refs of the remaining snapshots name goes into a temporary table;
//   3. under the vault's commit gate (no snapshot commit in progress): mark the snapshots
//      committed meanwhile, drop refs left without a record, and sweep, in one transaction, the
//      rows neither marked nor vouched for (answered present to `missing`, or uploaded) by a run
//      that has not committed its snapshot yet and was heard from since the mark started minus
//      the vouch idle time (2 h: twice a grant's life, so only a failed or abandoned run is silent
//      that long; a run that keeps talking is protected however long it takes);
//   4. packs (gc-plan.ts): one serving nothing is retired (its row dropped, listed in
//      retired_packs) and then unlinked once its reads in flight end; one at least half garbage
//      is copied (its sealed blobs, no key) into a new pack, written and fsynced and renamed
//      into place, then indexed in one transaction that moves its rows and retires the old one,
//      which is unlinked last.
// A pack whose bytes no longer hash to its name is never copied (scrub must keep seeing it).
// Only one gc runs per storage server at a time. Does not guarantee: a backup that keeps an
// unchanged file's chunks from a snapshot deleted while it runs, or falls silent longer than the
// vouch idle time and then goes on, may lose its race; its snapshot upload then fails E_UNAVAILABLE (retried) and nothing is lost.
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { PackBuilder } from '../core/pack.ts';
import { CairnError } from '../core/errors.ts';
import { renameDurable, tempPath } from '../core/durable-fs.ts';
import { now, testDuration } from '../core/test-settings.ts';
import type { GcResult } from '../protocol/control.ts';
import type { PackUsage, SweepMode } from './gc-index.ts';
import { acceptCode, issueCode, spendCode } from './gc-confirm.ts';
import { addFigures, type GcFigures, noFigures, planPacks } from './gc-plan.ts';
import { deleteSnapshot, deletionRequests } from './snapshot-removal.ts';
import { listSnapshots, readIdBatches, refsPath } from './snapshot-store.ts';
import type { Vault, VaultStore } from './vault-store.ts';

export type GcPhase = 'marked' | 'swept' | 'done';

export type GcOptions = {
  dataDir: string;
  appendOnly: boolean;
  confirm?: string;
  log: (line: string) => void;
  /** tests: called at each phase of each vault (e.g. to ask `missing` between mark and sweep) */
  onPhase?: (phase: GcPhase, vault: Vault) => Promise<void> | void;
  /** a gc run's progress and run log lines (never the confirmation code: it stays on this machine) */
  report?: GcReport;
};

/** Where a gc run tells the backup server its phase (per vault) and the lines of its run log. */
export type GcReport = {
  phase: (phase: 'marking' | 'sweeping', vault: string) => void;
  line: (level: 'info' | 'warn', message: string) => void;
};

const MARK_BATCH = 4096;
const running = new WeakSet<VaultStore>();

/**
 * How long a run that has not committed its snapshot may be silent before its vouches stop
 * protecting anything: twice a grant's life (1 h, renewed while the run goes on), so a silent
 * run is one that failed or was abandoned.
 */
export function vouchIdleMs(): number {
  return testDuration('GC_VOUCH_IDLE', 2 * 3600_000);
}

/** CAIRN_TEST_GC_CRASH_AT (tests only): dies here as `kill -9` would. */
function crashPoint(at: 'after-mark' | 'mid-sweep' | 'mid-rewrite'): void {
  if (process.env.CAIRN_TEST === '1' && process.env.CAIRN_TEST_GC_CRASH_AT === at) process.kill(process.pid, 'SIGKILL');
}

export async function collectGarbage(store: VaultStore, options: GcOptions): Promise<GcResult> {
  if (running.has(store)) throw new CairnError('E_CONFLICT', 'a gc of this storage server is already running');
  running.add(store);
  try {
    if (!options.appendOnly) return await collectAll(store, options, 'delete');
    if (options.confirm === undefined) {
      const deletions: Record<string, string[]> = {};
      const result = await collectAll(store, options, 'plan', deletions);
      const { code, expires } = await issueCode(options.dataDir, { vaults: deletions });
      options.log(
        `gc: marking done (${result.bytesFreed} bytes in ${result.chunksDeleted} chunks could be freed); ` +
          `confirmation code ${code}, valid until ${new Date(expires).toISOString()}, also in ${options.dataDir}/gc-confirm: ` +
          `cairn gc --storage NAME --confirm ${code}`,
      );
      return { ...result, confirmationNeeded: true };
    }
    const plan = await acceptCode(options.dataDir, options.confirm);
    const result = await collectAll(store, options, 'planned', plan.vaults);
    await spendCode(options.dataDir);
    options.log(`gc: confirmed, freed ${result.bytesFreed} bytes`);
    return result;
  } finally {
    running.delete(store);
  }
}

/**
 * Every vault in turn. `deletions`: for 'plan', filled with each vault's deletion requests
 * (left out of the mark); for 'planned', the requests to carry out first.
 */
async function collectAll(store: VaultStore, options: GcOptions, mode: SweepMode, deletions: Record<string, string[]> = {}): Promise<GcResult> {
  const total = noFigures();
  let vaults = 0;
  for (const name of await store.list()) {
    if (mode === 'planned' && !(name in deletions)) continue; // created after the marking: not confirmed
    let vault: Vault;
    try {
      vault = await store.open(name);
    } catch (e) {
      options.log(`gc: vault ${name} skipped: ${(e as Error).message}`);
      options.report?.line('warn', `vault ${name} skipped: ${(e as Error).message}`);
      continue;
    }
    let excluded: string[] = [];
    if (mode === 'plan') excluded = deletions[name] = await deletionRequests(vault);
    if (mode === 'planned') for (const id of deletions[name] ?? []) await deleteSnapshot(vault, id);
    const figures = await collectVault(vault, mode, new Set(excluded), options);
    options.report?.line('info', `vault ${name}: ${figures.chunksDeleted} chunks, ${figures.bytesFreed} bytes${mode === 'plan' ? ' could be freed' : ' freed'}`);
    addFigures(total, figures);
    vaults++;
  }
  return { ...total, vaults };
}

export async function collectVault(vault: Vault, mode: SweepMode, excluded: ReadonlySet<string>, options: Pick<GcOptions, 'log' | 'onPhase' | 'report'>): Promise<GcFigures> {
  const figures = noFigures();
  options.report?.phase('marking', vault.name);
  for (const pack of vault.gcIndex.retired()) await vault.unlinkRetired(pack);
  const idleCutoff = now() - vouchIdleMs();
  vault.gcIndex.beginMark();
  try {
    const marked = new Set<string>();
    await markSnapshots(vault, marked, excluded);
    await options.onPhase?.('marked', vault);
    options.report?.phase('sweeping', vault.name);
    crashPoint('after-mark');
    const release = await vault.commits.exclusive();
    try {
      await markSnapshots(vault, marked, excluded);
      if (mode !== 'plan') await dropOrphanRefs(vault);
      const swept = vault.gcIndex.sweep(mode, idleCutoff);
      if (mode !== 'plan') vault.sweeps++;
      figures.chunksDeleted = swept.chunks;
    } finally {
      release();
    }
  } finally {
    vault.gcIndex.endMark();
  }
  await options.onPhase?.('swept', vault);
  const plan = planPacks(vault.gcIndex.packUsage(mode === 'plan'));
  if (mode === 'plan') return { ...figures, bytesFreed: plan.bytesFreed, packsDeleted: plan.remove.length, packsRewritten: plan.rewrite.length };
  for (const pack of plan.remove) {
    if (!vault.gcIndex.retireEmptyPack(pack.name)) continue;
    crashPoint('mid-sweep');
    await vault.unlinkRetired(pack.name);
    figures.packsDeleted++;
    figures.bytesFreed += pack.size;
  }
  for (const pack of plan.rewrite) {
    const freed = await rewritePack(vault, pack, (line) => {
      options.log(line);
      options.report?.line('warn', line);
    });
    if (freed === undefined) continue;
    figures.packsRewritten++;
    figures.bytesFreed += freed;
  }
  await options.onPhase?.('done', vault);
  return figures;
}

/** Adds the refs of every snapshot not yet marked (and not excluded) to the mark. */
async function markSnapshots(vault: Vault, marked: Set<string>, excluded: ReadonlySet<string>): Promise<void> {
  for (const id of await listSnapshots(vault)) {
    if (marked.has(id) || excluded.has(id)) continue;
    marked.add(id);
    try {
      for await (const ids of readIdBatches(refsPath(vault, id), MARK_BATCH)) vault.gcIndex.markLive(ids);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted since the listing
    }
  }
}

/** Removes .refs files whose .snap is gone (a deletion cut short by a crash); no commit is in progress. */
async function dropOrphanRefs(vault: Vault): Promise<void> {
  const names = new Set(await readdir(vault.snapshotsDir));
  for (const n of names) if (/^[0-9a-f]{64}\.refs$/.test(n) && !names.has(`${n.slice(0, 64)}.snap`)) await rm(refsPath(vault, n.slice(0, 64)), { force: true });
}

/**
 * Copies the blobs pack `pack` still serves into a new pack (durable before it is indexed), moves
 * their rows to it and retires the old pack, unlinked last. Answers the bytes freed, or undefined
 * when the pack was left as it is (its bytes no longer match its name: scrub reports it).
 */
async function rewritePack(vault: Vault, pack: PackUsage, log: (line: string) => void): Promise<number | undefined> {
  let retired: boolean;
  let size: number;
  const release = vault.pins.hold([pack.name]);
  try {
    const rows = vault.gcIndex.packRows(pack.name);
    const bytes = await readFile(vault.packPath(pack.name));
    if (createHash('sha256').update(bytes).digest('hex') !== pack.name || rows.some((r) => r.offset + r.length > bytes.length)) {
      log(`gc: vault ${vault.name}: pack ${pack.name} does not match its name; left for scrub to report, not rewritten`);
      return undefined;
    }
    const builder = new PackBuilder();
    for (const r of rows) builder.add(r.type, r.id, bytes.subarray(r.offset, r.offset + r.length));
    const built = builder.finish();
    size = built.size;
    if (!vault.index.hasPack(built.name)) {
      const tmp = tempPath(vault.tmpDir, `gc-${built.name}`);
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(Buffer.concat(built.buffers));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await renameDurable(tmp, vault.packPath(built.name));
    }
    crashPoint('mid-rewrite');
    retired = vault.gcIndex.replacePack(pack.name, built.name, built.size, built.entries);
  } finally {
    release();
  }
  if (retired) await vault.unlinkRetired(pack.name);
  return pack.size - size;
}

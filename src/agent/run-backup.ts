// The agent's side of a `backup` call: opens the vault keys sent wrapped to this agent, talks
// to the run's storage server with the run's grant (kept fresh by GrantKeeper), backs up the
// job's paths with the data path (backup/archiver.ts) while progress goes to the server, then
// tells the server about the new snapshot (`snapshotCreated`) and streams its file index
// (`snapshotIndex`, INDEX_BATCH entries per call, each awaited) from the spool on disk.
// Each warning is a 'warn' line of the run log as it happens; the result carries the first
// MAX_RESULT_ENTRIES and the count (run-report.ts), and files --max-file-size left out are
// summed up in 'info' lines at the end.
import path from 'node:path';
import { isCairnError } from '../core/errors.ts';
import type { VaultKeys } from '../core/keys.ts';
import type { SnapshotRecord } from '../core/snapshot.ts';
import { absolutePathSchema, checkBody, LEVELS, nameSchema, type Schema } from '../protocol/api-schema.ts';
import type { BackupParams, BackupResult, ProgressData, SnapshotCreatedParams, SnapshotIndexParams } from '../protocol/control.ts';
import { backup, type BackupProgress } from './backup/archiver.ts';
import { renewByCall } from './grant-keeper.ts';
import { IndexSpool } from './index-spool.ts';
import { type RunContext, withVaultAccess } from './run-context.ts';
import { ProgressSender, type Work } from './run-progress.ts';
import { RunLog, WarningTally } from './run-report.ts';
import { loadSnapshot } from './snapshots.ts';
import type { StorageClient } from './storage-client.ts';

export const runIdSchema: Schema = { type: 'integer', minimum: 1 };
export const storageRefSchema: Schema = {
  type: 'object',
  properties: { name: nameSchema, url: { type: 'string', pattern: '^https://', maxLength: 2048 } },
  required: ['name', 'url'],
};
export const vaultNameSchema: Schema = nameSchema;
export const grantSchema: Schema = { type: 'string', minLength: 1, maxLength: 2048 };
export const wrappedKeysSchema: Schema = { type: 'string', pattern: '^ak[12]\\.', maxLength: 4096 };
export const snapshotIdSchema: Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' };

export const backupParamsSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    run: runIdSchema,
    job: nameSchema,
    level: { type: 'string', enum: LEVELS },
    paths: { type: 'array', items: absolutePathSchema, minItems: 1, maxItems: 1000 },
    excludes: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 4096 }, maxItems: 1000 },
    storage: storageRefSchema,
    vault: vaultNameSchema,
    grant: grantSchema,
    keys: wrappedKeysSchema,
    parent: snapshotIdSchema,
    forceRead: { type: 'boolean' },
    bwlimit: { type: 'integer', minimum: 1 },
    oneFileSystem: { type: 'boolean' },
    excludeCaches: { type: 'boolean' },
    maxFileSize: { type: 'integer', minimum: 1 },
    previousBytes: { type: 'integer', minimum: 0 },
  },
  required: ['run', 'job', 'level', 'paths', 'excludes', 'storage', 'vault', 'grant', 'keys', 'forceRead'],
};

/** `params` as BackupParams, or E_BAD_REQUEST naming the first bad field. */
export function checkBackupParams(params: unknown): BackupParams {
  return checkBody<BackupParams>(backupParamsSchema, params);
}

/**
 * Exclude globs as the walker asks them: a glob with a '/' is matched against the whole path
 * (`/home/*\/.cache`, `**\/node_modules`), one without against the entry's name (`*.tmp`).
 */
export function excludeMatcher(globs: string[]): ((p: Buffer, name: Buffer) => boolean) | undefined {
  if (globs.length === 0) return undefined;
  const byPath = globs.filter((g) => g.includes('/'));
  const byName = globs.filter((g) => !g.includes('/'));
  return (p, name) => {
    if (byName.length) {
      const n = name.toString('utf8');
      if (byName.some((g) => path.matchesGlob(n, g))) return true;
    }
    if (byPath.length) {
      const full = p.toString('utf8');
      if (byPath.some((g) => path.matchesGlob(full, g))) return true;
    }
    return false;
  };
}

/** The reference snapshot, or none (with a warning) when the storage server no longer has it. */
async function loadParent(
  client: StorageClient,
  vault: string,
  keys: VaultKeys,
  id: string | undefined,
  warnings: WarningTally,
): Promise<SnapshotRecord | undefined> {
  if (id === undefined) return undefined;
  try {
    return await loadSnapshot(client, vault, keys, id);
  } catch (e) {
    if (!isCairnError(e, 'E_NOT_FOUND') && !isCairnError(e, 'E_CORRUPT')) throw e;
    warnings.push({ path: '', reason: `reference snapshot ${id} unreadable (${e.message}): every file is read` });
    return undefined;
  }
}

/**
 * A backup's progress as the run shows it, and the work its phase measures: while walking, the
 * bytes scanned against the previous snapshot's size (unknown for a first backup); while
 * uploading, the pack bytes sent against the new bytes sealed.
 */
export function backupProgress(p: BackupProgress, previousBytes?: number): [ProgressData, Work | undefined] {
  const { phase, currentPath, ...counts } = p;
  const data: ProgressData = { ...counts, filesScanned: p.files, bytesScanned: p.bytes, filesRead: p.filesChanged, ...(currentPath !== undefined ? { currentPath } : {}) };
  if (phase === 'uploading') return [data, { done: p.bytesSent, total: p.bytesNew }];
  if (phase === 'finishing') return [data, undefined];
  return [data, { done: p.bytes, total: previousBytes }];
}

export async function runBackup(params: BackupParams, ctx: RunContext): Promise<BackupResult> {
  const { run, vault } = params;
  return withVaultAccess(params, ctx, renewByCall(ctx.call, run), async (keys, client, config) => {
    const progress = new ProgressSender((data) => ctx.event(run, 'progress', data));
    const log = new RunLog((data) => ctx.event(run, 'log', data));
    const warnings = new WarningTally((w) => log.line('warn', w.path ? `${w.path}: ${w.reason}` : w.reason));
    let spool: IndexSpool | undefined;
    try {
      const parent = await loadParent(client, vault, keys, params.parent, warnings);
      ctx.signal?.throwIfAborted();
      spool = new IndexSpool(ctx.tmpDir);
      const index = spool;
      let last: BackupProgress | undefined;
      const done = await backup({
        client,
        vault,
        keys,
        chunker: config.chunker,
        paths: params.paths,
        host: ctx.host,
        parent,
        forceRead: params.forceRead,
        bwlimit: params.bwlimit,
        workers: ctx.workers,
        tmpDir: ctx.tmpDir,
        exclude: excludeMatcher(params.excludes),
        oneFileSystem: params.oneFileSystem,
        excludeCaches: params.excludeCaches,
        maxFileSize: params.maxFileSize,
        signal: ctx.signal,
        warnings,
        onDirectory: (dir, nodes) => index.add(dir, nodes),
        onProgress: (p) => {
          last = p;
          progress.offer(p.phase, ...backupProgress(p, params.previousBytes ?? parent?.summary.bytes));
        },
      });
      const { snapshot, largeSkipped } = done;
      if (largeSkipped.count > 0) {
        log.line('info', `skipped ${largeSkipped.count} file(s) larger than --max-file-size ${params.maxFileSize} bytes`);
        for (const p of largeSkipped.paths) log.line('info', `skipped (larger than --max-file-size): ${p}`);
      }
      // the file index goes to the server now: the last counters, at once
      progress.offer('finishing', backupProgress({ bytesSent: last?.bytesSent ?? 0, ...snapshot.summary, phase: 'finishing' })[0], undefined, true);
      const created: SnapshotCreatedParams = { run, snapshot: snapshot.id, time: snapshot.time, counters: snapshot.summary };
      await ctx.call('snapshotCreated', created);
      await index.replay(async (entries) => {
        const batch: SnapshotIndexParams = { run, snapshot: snapshot.id, entries };
        await ctx.call('snapshotIndex', batch);
      });
      const { listed, total } = warnings;
      return { ...snapshot.summary, snapshot: snapshot.id, time: snapshot.time, warnings: listed, warningsTotal: total };
    } finally {
      log.close();
      spool?.discard();
    }
  });
}

// Runs as consoles show them: waiting for a run to end (on the server's event stream, with the
// live progress line on a terminal), the one-line summary of an ended run, the `run show` lines,
// and the exit status a run's outcome gives (0 only when it succeeded).
import { setTimeout as sleep } from 'node:timers/promises';
import { isCairnError } from '../core/errors.ts';
import { FINISHED, type RunJson, type SnapshotJson } from '../protocol/api-types.ts';
import { type ApiClient, type EventStream, seg, withQuery } from './api-client.ts';
import type { ServerEvent } from './event-stream.ts';
import { printJson } from './output.ts';
import { formatBytes, formatDuration, printable, progressLine } from './progress.ts';

/** Between two tries to open a lost event stream again. */
export const RECONNECT_MS = 1000;
/** How long a watch waits for a server that went away (a restart) before giving up. */
export const UNREACHABLE_PATIENCE_MS = 30_000;
/** Warnings or damaged paths listed after a summary; `run show` lists them all. */
const LISTED = 20;

export function isFinished(run: RunJson): boolean {
  return FINISHED.includes(run.status);
}

/** False only when a restore's pretreatment report says a blocking problem was found. */
export function pretreatmentOk(run: RunJson): boolean {
  const p = run.pretreatment as { ok?: unknown } | null | undefined;
  return !(typeof p === 'object' && p !== null && p.ok === false);
}

/** 0 when the run succeeded (and, for a dry run, found nothing blocking); else 1. */
export function exitStatusOf(run: RunJson, dryRun = false): number {
  return run.status === 'succeeded' && (!dryRun || pretreatmentOk(run)) ? 0 : 1;
}

function seconds(from: string | null, to: string | null): number | undefined {
  if (!from || !to) return undefined;
  const d = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(d) ? d : undefined;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One line saying how a run ended (or where it is). */
export function runSummary(run: RunJson): string {
  const what =
    run.kind === 'backup' && run.job
      ? `backup of job ${run.job}${run.level ? ` (${run.level})` : ''}`
      : run.kind === 'restore' && run.snapshot
        ? `restore of snapshot ${run.snapshot.slice(0, 12)}`
        : `${run.kind}${run.job ? ` of job ${run.job}` : ''}`;
  if (run.status === 'failed') return `run ${run.id} failed: ${what}: ${printable(run.error ?? 'no reason given')}`;
  if (run.status === 'canceled') return `run ${run.id} canceled: ${what}`;
  if (run.status === 'queued') return `run ${run.id} queued: ${what}${run.reason ? ` (${printable(run.reason)})` : ''}`;
  const parts = [`${plural(run.files, 'file')}`, formatBytes(run.bytes)];
  if (run.kind === 'backup') parts.push(`${formatBytes(run.bytesNew)} new`);
  const took = seconds(run.startedAt, run.endedAt);
  if (took !== undefined) parts.push(`in ${formatDuration(took)}`);
  if (run.kind === 'backup' && run.snapshot) parts.push(`snapshot ${run.snapshot.slice(0, 12)}`);
  if (run.conflicts) parts.push(`existing files ${run.conflicts.renamed} renamed, ${run.conflicts.skipped} skipped, ${run.conflicts.overwritten} overwritten`);
  if (run.warnings.length > 0) parts.push(plural(run.warnings.length, 'warning'));
  if (run.damaged.length > 0) parts.push(`${run.damaged.length} damaged`);
  return `run ${run.id} ${run.status}: ${what}, ${parts.join(', ')}`;
}

function pathLines(label: string, items: { path: string; reason: string }[], limit: number, id: number): string[] {
  const lines = items.slice(0, limit).map((w) => `  ${label}: ${printable(w.path)}: ${printable(w.reason)}`);
  if (items.length > limit) lines.push(`  … ${items.length - limit} more (cairn run show ${id})`);
  return lines;
}

/** A pretreatment report (its shape is the server's) as indented `key: value` lines. */
export function reportLines(value: unknown, indent = '  '): string[] {
  if (typeof value !== 'object' || value === null) return [`${indent}${printable(String(value))}`];
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (Array.isArray(v)) {
      lines.push(`${indent}${k}: ${v.length}`);
      for (const item of v) lines.push(`${indent}  ${printable(typeof item === 'object' ? JSON.stringify(item) : String(item))}`);
    } else if (typeof v === 'object' && v !== null) {
      lines.push(`${indent}${k}:`, ...reportLines(v, `${indent}  `));
    } else lines.push(`${indent}${k}: ${printable(String(v))}`);
  }
  return lines;
}

/** `run show` in text: one `key: value` line per field, then warnings, damaged paths, report. */
export function runDetails(run: RunJson): string[] {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(run)) {
    if (k === 'warnings' || k === 'damaged' || k === 'pretreatment') continue;
    lines.push(`${k}: ${v === null || v === undefined ? '-' : printable(typeof v === 'object' ? JSON.stringify(v) : String(v))}`);
  }
  lines.push(`warnings: ${run.warnings.length}`, ...pathLines('warning', run.warnings, Infinity, run.id));
  lines.push(`damaged: ${run.damaged.length}`, ...pathLines('damaged', run.damaged, Infinity, run.id));
  if (run.pretreatment !== null && run.pretreatment !== undefined) lines.push('pretreatment:', ...reportLines(run.pretreatment));
  return lines;
}

/**
 * Bytes the run will reach, for an ETA: a restore's snapshot size, or a backup's previous
 * snapshot of the same job (a first backup has none). Undefined when not known.
 */
export async function estimateTotalBytes(client: ApiClient, run: RunJson): Promise<number | undefined> {
  if (run.kind === 'restore' && run.snapshot) {
    return (await client.get<SnapshotJson>(`/api/snapshots/${seg(run.snapshot)}`)).bytes;
  }
  if (run.kind === 'backup' && run.job) {
    const snapshots = await client.get<SnapshotJson[]>(withQuery('/api/snapshots', { job: run.job }));
    return snapshots.find((s) => s.id !== run.snapshot)?.bytes; // newest first
  }
  return undefined;
}

/**
 * Follows the run on the event stream until it ends and returns its final state. On a terminal
 * (stderr a TTY) it redraws the progress line in place and clears it at the end.
 */
export async function waitForRun(client: ApiClient, id: number, options: { totalBytes?: number } = {}): Promise<RunJson> {
  let following = id;
  // Ctrl-C stops the watching, not the run: say so, and how to follow it again
  const onInterrupt = () => {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    process.stderr.write(`run ${following} goes on on the server: follow it with cairn run watch ${following}, stop it with cairn run cancel ${following}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    let run = await waitForAttempt(client, id, options);
    // a run failed as unavailable is retried as a new run: follow the attempts, print the last
    for (;;) {
      // the server queues a retry before it records the failure: a failed run shows its retry
      if (run.status !== 'failed' || run.nextAttempt === null) return run;
      process.stderr.write(`run ${run.id} failed (${run.error ?? 'unavailable'}); following its retry, run ${run.nextAttempt}\n`);
      following = run.nextAttempt;
      run = await waitForAttempt(client, run.nextAttempt, options);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/**
 * Follows one run on the event stream until it ends: the run is read once the stream is open
 * (so its end cannot slip between the two), then each `run` event replaces it and each
 * `progress` event moves its counters; the ended run is read once more, as `run show` has it.
 * A lost stream (a server restart) is opened again, for up to UNREACHABLE_PATIENCE_MS.
 */
async function waitForAttempt(client: ApiClient, id: number, options: { totalBytes?: number }): Promise<RunJson> {
  const tty = process.stderr.isTTY === true;
  const draw = (run: RunJson) => {
    if (!tty) return;
    const line = progressLine(run, { now: Date.now(), width: process.stderr.columns || 80, totalBytes: options.totalBytes });
    process.stderr.write(`\r${line}\x1b[K`);
  };
  let unreachableSince: number | undefined;
  try {
    for (;;) {
      let stream: EventStream | undefined;
      try {
        stream = await client.openEvents(withQuery('/api/events', { run: id }));
        let run = await client.get<RunJson>(`/api/runs/${id}`);
        unreachableSince = undefined;
        for await (const event of isFinished(run) ? [] : stream.events) {
          run = followed(run, event);
          if (isFinished(run)) break;
          draw(run);
        }
        stream.close();
        return await client.get<RunJson>(`/api/runs/${id}`);
      } catch (e) {
        stream?.close();
        // a server restart keeps its runs: wait for it a while rather than lose the watch
        if (!isCairnError(e, 'E_UNAVAILABLE')) throw e;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > UNREACHABLE_PATIENCE_MS) throw e;
        await sleep(RECONNECT_MS);
      }
    }
  } finally {
    if (tty) process.stderr.write('\r\x1b[K');
  }
}

/** The run after one event of its stream: a `run` event is its new state, a `progress` event moves its live counters. */
export function followed(run: RunJson, event: ServerEvent): RunJson {
  const data = event.data as Partial<RunJson> | null;
  if (typeof data !== 'object' || data === null || data.id !== run.id) return run;
  if (event.type === 'run') return data as RunJson;
  if (event.type === 'progress' && run.status === 'running') return { ...run, ...data };
  return run;
}

/** Total bytes for the progress line, only worth asking for when a terminal shows it. */
export async function totalForDisplay(client: ApiClient, run: RunJson): Promise<number | undefined> {
  if (process.stderr.isTTY !== true) return undefined;
  try {
    return await estimateTotalBytes(client, run);
  } catch {
    return undefined; // only the ETA is lost: the line shows rate and elapsed time instead
  }
}

/**
 * Prints an ended run: `--json` the run itself; text its summary on stdout (the failure
 * on stderr), the first warnings and damaged paths, and a dry run's report. Returns the exit status.
 */
export function printEndedRun(run: RunJson, json: boolean, dryRun = false): number {
  const status = exitStatusOf(run, dryRun);
  if (json) {
    printJson(run);
    return status;
  }
  const summary = runSummary(run);
  if (run.status === 'succeeded') process.stdout.write(`${summary}\n`);
  const details = [...pathLines('warning', run.warnings, LISTED, run.id), ...pathLines('damaged', run.damaged, LISTED, run.id)];
  if (dryRun && run.pretreatment !== null && run.pretreatment !== undefined) {
    details.push('pretreatment:', ...reportLines(run.pretreatment));
  }
  if (details.length > 0) process.stdout.write(`${details.join('\n')}\n`);
  if (run.status !== 'succeeded') process.stderr.write(`cairn: ${summary}\n`);
  else if (status !== 0) process.stderr.write(`cairn: run ${run.id}: the dry run found a blocking problem\n`);
  return status;
}

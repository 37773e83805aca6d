// The live progress line a console draws on a terminal while a run goes on: status and phase,
// files, bytes, rate, elapsed time, ETA when the total is known (it is not for a first backup),
// and the current file, cut to the terminal's width. Pure formatting; run-output.ts draws it.
import type { RunJson } from '../protocol/api-types.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → '1.5 KiB'; whole bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(Number.isFinite(n) ? n : 0))} B`;
  let v = n;
  let unit = 0;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[unit]}`;
}

/** Seconds as m:ss, or h:mm:ss from an hour. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Cuts `text` to `width` characters, keeping its end (a path's end says the most). */
export function keepTail(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `…${text.slice(text.length - width + 1)}`;
}

/** Control characters (a file name may hold a newline or an escape) as \xNN, so a line stays one line. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export type ProgressContext = {
  /** now, in ms since the epoch */
  now: number;
  /** terminal columns */
  width: number;
  /** bytes the run will reach, when known (a restore's snapshot, the job's previous snapshot) */
  totalBytes?: number;
};

/** One line (no newline) describing `run` at `ctx.now`, at most `ctx.width` characters. */
export function progressLine(run: RunJson, ctx: ProgressContext): string {
  const width = Math.max(20, ctx.width) - 1; // the last column would wrap on some terminals
  const head = `run ${run.id} ${run.status}`;
  if (run.status === 'queued') return printable(run.reason ? `${head}: ${run.reason}` : head).slice(0, width);
  const started = run.startedAt ? Date.parse(run.startedAt) : NaN;
  const elapsed = Number.isFinite(started) ? Math.max(0, (ctx.now - started) / 1000) : 0;
  // the agent's own rate and ETA (its phase's work over the last 10 s) when its progress says them
  const live = run.phase !== undefined && run.phase !== null;
  const rate = live ? (run.rateBytesPerSec ?? 0) : elapsed >= 1 ? run.bytes / elapsed : 0;
  const parts = [live ? `${head} ${run.phase}` : head, `${run.files} files`, formatBytes(run.bytes)];
  if (run.bytesNew > 0) parts.push(`new ${formatBytes(run.bytesNew)}`);
  if ((run.bytesSent ?? 0) > 0) parts.push(`sent ${formatBytes(run.bytesSent!)}`);
  if (rate > 0) parts.push(`${formatBytes(rate)}/s`);
  parts.push(formatDuration(elapsed));
  const total = ctx.totalBytes;
  if (live) {
    if (run.etaSeconds !== null && run.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(run.etaSeconds)}`);
  } else if (total !== undefined && total > 0 && rate > 0) {
    const percent = Math.min(99, Math.floor((run.bytes / total) * 100));
    parts.push(run.bytes < total ? `${percent}% ETA ${formatDuration((total - run.bytes) / rate)}` : `${percent}%`);
  }
  const counters = parts.join('  ');
  if (counters.length >= width) return counters.slice(0, width);
  const room = width - counters.length - 2;
  return run.currentPath && room >= 8 ? `${counters}  ${keepTail(printable(run.currentPath), room)}` : counters;
}

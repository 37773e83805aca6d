// Test time (SPEC: issue "Unattended operation", item 7). Only when CAIRN_TEST=1 does a daemon
// read these: a clock offset from CAIRN_TEST_CLOCK_OFFSET_FILE (milliseconds, re-read each time
// `now()` is asked, so a test moves time forward by rewriting the file), and shortened durations
// (retry back-offs, the re-attach grace, certificate lifetimes) from CAIRN_TEST_<NAME>_MS.
// In production nothing here reads the environment beyond CAIRN_TEST itself.
import { readFileSync } from 'node:fs';

function testing(): boolean {
  return process.env.CAIRN_TEST === '1';
}

/** The clock offset in ms (0 outside tests, or when the file is missing or malformed). */
export function clockOffsetMs(): number {
  if (!testing()) return 0;
  const file = process.env.CAIRN_TEST_CLOCK_OFFSET_FILE;
  if (!file) return 0;
  try {
    const v = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(v) ? v : 0;
  } catch {
    return 0;
  }
}

/** Wall-clock milliseconds as the daemon's schedules, back-offs and certificates see them. */
export function now(): number {
  return Date.now() + clockOffsetMs();
}

/** A duration in ms: CAIRN_TEST_<name>_MS in tests when set to a number ≥ 0, else `fallback`. */
export function testDuration(name: string, fallback: number): number {
  if (!testing()) return fallback;
  const raw = process.env[`CAIRN_TEST_${name}_MS`];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  return Number.isFinite(v) && v >= 0 ? v : fallback;
}

/** A list of durations in ms (comma-separated CAIRN_TEST_<name>_MS), else `fallback`. */
export function testDurations(name: string, fallback: readonly number[]): readonly number[] {
  if (!testing()) return fallback;
  const raw = process.env[`CAIRN_TEST_${name}_MS`];
  if (!raw) return fallback;
  const list = raw.split(',').map(Number);
  return list.every((v) => Number.isFinite(v) && v >= 0) && list.length > 0 ? list : fallback;
}

/** A number from CAIRN_TEST_<name> in tests when set to a number ≥ 0 (e.g. DISK_FREE_BYTES), else undefined. */
export function testNumber(name: string): number | undefined {
  if (!testing()) return undefined;
  const raw = process.env[`CAIRN_TEST_${name}`];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** A count: CAIRN_TEST_<name> in tests when set to a whole number ≥ 1 (a lowered limit), else `fallback`. */
export function testCount(name: string, fallback: number): number {
  if (!testing()) return fallback;
  const v = Number(process.env[`CAIRN_TEST_${name}`]);
  return Number.isSafeInteger(v) && v >= 1 ? v : fallback;
}

/** A file a test names in CAIRN_TEST_<name>_FILE (e.g. where a console notes its requests), else undefined. */
export function testFile(name: string): string | undefined {
  if (!testing()) return undefined;
  return process.env[`CAIRN_TEST_${name}_FILE`] || undefined;
}

// How heartbeats become the downsampled network history (docs/control-plane.md "Network
// monitoring"): each part's round-trip times gather in the bucket of the minute (and of the
// hour) they fall in; when a bucket's end has passed, it closes into one sample row (mean and
// p99 in microseconds, the heartbeat count, whether the part was online at any time in it).
// Pure functions of their inputs: the monitor calls them with the server's `now`.
import { testDuration } from '../core/test-settings.ts';

/** The minute bucket in ms (tests shorten it with CAIRN_TEST_NET_BUCKET_MS; everything below scales with it). */
export function minuteMs(): number {
  return Math.max(50, testDuration('NET_BUCKET', 60_000));
}

/** Sizes and retention of the two tiers: minutes kept 24 h, hours 30 days (in minute buckets' scale). */
export function netScale(minute = minuteMs()): { minute: number; hour: number; keepMinutes: number; keepHours: number } {
  const hour = 60 * minute;
  return { minute, hour, keepMinutes: 24 * hour, keepHours: 30 * 24 * hour };
}

export type Bucket = { start: number; rtts: number[]; online: boolean };

export type Sample = { bucketMs: number; time: number; rttUs: number | null; rttP99Us: number | null; heartbeats: number; online: boolean };

export function bucketStart(at: number, size: number): number {
  return Math.floor(at / size) * size;
}

/** Nearest-rank percentile (0 < p ≤ 1) of ascending `sorted`; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function sampleOf(b: Bucket, size: number): Sample {
  const sorted = [...b.rtts].sort((x, y) => x - y);
  const mean = sorted.length ? Math.round(sorted.reduce((n, v) => n + v, 0) / sorted.length) : null;
  return { bucketMs: size, time: b.start, rttUs: mean, rttP99Us: percentile(sorted, 0.99), heartbeats: sorted.length, online: b.online || sorted.length > 0 };
}

/**
 * The bucket at time `at`: `b` itself while `at` is inside it, else a fresh one (online when the
 * part is online now) and the closed bucket's sample.
 */
export function roll(b: Bucket, at: number, size: number, onlineNow: boolean): { bucket: Bucket; closed?: Sample } {
  const start = bucketStart(at, size);
  if (start <= b.start) return { bucket: b };
  return { bucket: { start, rtts: [], online: onlineNow }, closed: sampleOf(b, size) };
}

/** p50 and p99 (µs) over the buckets given (the last hour's closed minutes and the open one). */
export function windowPercentiles(buckets: readonly Bucket[]): { p50: number | null; p99: number | null } {
  const all = buckets.flatMap((b) => b.rtts).sort((x, y) => x - y);
  return { p50: percentile(all, 0.5), p99: percentile(all, 0.99) };
}

/** Microseconds as the API's milliseconds (three decimals); null stays null. */
export function usToMs(us: number | null): number | null {
  return us === null ? null : Math.round(us) / 1000;
}

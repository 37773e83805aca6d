// What a client daemon (Cairn's agent) gives back once a run is over: its VmRSS sampled every
// second for a while after the last phase. Reported as the value at the end of the wait and the
// first second it was at or under the idle target (null when it never was).
import { setTimeout as sleep } from 'node:timers/promises';
import { rssOf } from './daemon.ts';

/** The idle target of issue 15: an agent at or under 120 MiB within 60 s of a run's end. */
export const IDLE_TARGET_KIB = 120 * 1024;

export type IdleRss = {
  /** VmRSS in KiB at the end of the wait (null: the process was gone) */
  endKiB: number | null;
  /** seconds waited */
  seconds: number;
  /** first second the VmRSS was ≤ IDLE_TARGET_KIB, or null */
  firstAtTargetSeconds: number | null;
  /** every sample, KiB, one a second from 0 */
  samplesKiB: (number | null)[];
};


/** Samples `pid`'s VmRSS every second for `seconds` seconds (sample 0 at once). */
export async function sampleIdleRss(pid: number, seconds: number): Promise<IdleRss> {
  const samplesKiB: (number | null)[] = [];
  const start = Date.now();
  for (let s = 0; s <= seconds; s++) {
    const due = start + s * 1000 - Date.now();
    if (due > 0) await sleep(due);
    samplesKiB.push(rssOf(pid));
  }
  const first = samplesKiB.findIndex((k) => k !== null && k <= IDLE_TARGET_KIB);
  return { endKiB: samplesKiB.at(-1) ?? null, seconds, firstAtTargetSeconds: first < 0 ? null : first, samplesKiB };
}

// A process's memory figures from /proc/PID/status (Linux), for the agent memory tests.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

/** VmRSS (resident now) or VmHWM (peak resident) of process `pid`, in KiB. */
export function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `${field} of ${pid} in /proc/PID/status`);
  return Number(m[1]);
}

/** Sets the process's peak (VmHWM) back to its current resident set. */
export function resetHwm(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

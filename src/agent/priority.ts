// `agent start --nice N`: the agent's CPU priority, so a backup does not starve the machine it
// protects. On Linux setpriority(2) with a process id changes only that one thread, so every
// thread that exists now (V8's platform threads, libuv's pool) is reniced through
// /proc/self/task; threads started later (the backup's workers, their pools) inherit the nice
// value of the thread that starts them. Elsewhere the call covers the whole process.
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { CairnError } from '../core/errors.ts';

export const NICE_MIN = -20;
export const NICE_MAX = 19;

/** The nice value, or an error saying what is accepted. */
export function checkNice(v: unknown, fail: (why: string) => Error): number {
  const n = typeof v === 'string' && /^[+-]?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < NICE_MIN || n > NICE_MAX)
    throw fail(`nice must be a whole number from ${NICE_MIN} (most CPU) to ${NICE_MAX} (least), not ${JSON.stringify(v)}`);
  return n;
}

function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [0]; // no /proc: the calling process
  }
}

/** Sets every thread of this process to nice `n`; E_FORBIDDEN when not allowed (a raise needs privilege). */
export function applyNice(n: number): void {
  for (const tid of threadIds()) {
    try {
      setPriority(tid, n);
    } catch (e) {
      const code = (e as { info?: { code?: string } }).info?.code;
      if (code === 'ESRCH') continue; // the thread ended meanwhile
      throw new CairnError(
        'E_FORBIDDEN',
        `agent start: cannot set nice ${n}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied (a value below the current one needs CAP_SYS_NICE)' : (e as Error).message}`,
        { cause: e },
      );
    }
  }
}

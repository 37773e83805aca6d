// Durations as people write them on the command line and read them in messages: `30s`, `15m`,
// `6h`, `7d` (SPEC.md "CLI contract").

/** Seconds from `30s`, `15m`, `6h`, `7d` (`0` alone is zero); undefined when not a duration. */
export function durationSeconds(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  const m = /^(\d{1,9})([smhd])$/.exec(t);
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'] : undefined;
}

/** The shortest exact form: 120 → `2m`, 90 → `90s`, 86400 → `1d`. */
export function durationText(seconds: number): string {
  if (seconds > 0) for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

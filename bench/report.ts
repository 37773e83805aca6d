// Turns the benchmark's raw samples into medians, Cairn/restic and Cairn/borg ratios, the
// issue's targets with ✓/✗, and the markdown table printed to stdout and kept in results.md.
import type { ModifySummary } from './modify-dataset.ts';
import type { VerifyResult } from './measure.ts';

export const PHASES = ['full', 'noChange', 'afterModify', 'restore'] as const;
export type Phase = (typeof PHASES)[number];
export const PHASE_LABEL: Record<Phase, string> = {
  full: 'first full backup',
  noChange: 'no-change backup',
  afterModify: 'after ~1% modified',
  restore: 'full restore',
};

export interface PhaseSample {
  seconds: number;
  /** The client's peak: the timed process's, or the daemon doing its work (Cairn's agent). */
  peakRssKiB: number | null;
  /** With daemons: the timed CLI process's own peak, and each daemon's peak during the phase. */
  cliPeakRssKiB?: number | null;
  daemonPeakRssKiB?: Record<string, number | null>;
  /** CPU seconds per GiB of the dataset each process used in the phase (`cli` and each daemon). */
  cpuSecondsPerGiB?: Record<string, number | null>;
  /** With daemons: each daemon's CPU seconds (user + system, /proc/PID/stat) during the phase. */
  daemonCpuSeconds?: Record<string, number | null>;
  /** Growth of the tool's stored data (du -sb) during this phase; null for restores. */
  newBytes: number | null;
  /**
   * Restores: how long `sync -f` of the target took once the tool had reported, i.e. what writing
   * the restored files to disk still cost (near 0 for a tool that syncs before it reports).
   */
  flushSeconds?: number;
  /** The growth by part of the repository (stored-parts.ts: packs, refs, index, WAL…), backups only. */
  newBytesByPart?: Record<string, number>;
  /** What the client printed, when it is machine-readable (Cairn's --json). */
  output?: unknown;
  error?: string;
}

export interface RunRecord {
  tool: string;
  run: number;
  phases: Partial<Record<Phase, PhaseSample>>;
  verify?: VerifyResult;
  modify?: ModifySummary;
  facts?: Record<string, number | string | null>;
  error?: string;
  /** the 1-minute load average when the run (all its tools) started */
  loadAtStart?: number;
  /** started on a loaded machine and done again: left out of the medians */
  superseded?: boolean;
}

export interface PhaseSummary {
  runs: number;
  medianSeconds: number;
  mbPerSecond: number;
  medianNewBytes: number | null;
  medianPeakRssKiB: number | null;
  /** Per process (`cli` and each daemon), for tools that run daemons. */
  medianProcessPeakRssKiB?: Record<string, number | null>;
  /** Per process, CPU seconds per GiB of the dataset (the CLI alone for tools without daemons). */
  medianProcessCpuPerGiB?: Record<string, number | null>;
  /** Cairn: the run's own time in the catalog (queuedAt → endedAt), without the CLI around it. */
  medianRunSeconds?: number | null;
  /** Restores: the median of each run's seconds + flushSeconds (the restore until its data is on disk). */
  medianFlushedSeconds?: number;
  medianFlushSeconds?: number;
}

export interface Target {
  phase: Phase | 'rss';
  goal: string;
  met: boolean | null; // null: a number it needs is missing
}

export interface BenchReport {
  title: string;
  dataset: { source: string; files: number; bytes: number; note: string };
  environment: Record<string, string>;
  summary: Record<string, Partial<Record<Phase, PhaseSummary>>>;
  targets: Target[];
  runs: RunRecord[];
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export function summarize(runs: RunRecord[], datasetBytes: number): BenchReport['summary'] {
  const out: BenchReport['summary'] = {};
  for (const tool of [...new Set(runs.map((r) => r.tool))]) {
    const byPhase: Partial<Record<Phase, PhaseSummary>> = {};
    for (const phase of PHASES) {
      const ok = runs.flatMap((r) =>
        r.tool === tool && r.phases[phase] && !r.phases[phase]?.error ? [r.phases[phase]] : [],
      );
      const seconds = median(ok.map((s) => s.seconds));
      if (seconds === null) continue;
      byPhase[phase] = {
        runs: ok.length,
        medianSeconds: seconds,
        mbPerSecond: datasetBytes / 1e6 / seconds,
        medianNewBytes: median(ok.flatMap((s) => (s.newBytes === null ? [] : [s.newBytes]))),
        medianPeakRssKiB: median(ok.flatMap((s) => (s.peakRssKiB === null ? [] : [s.peakRssKiB]))),
        ...processMedians(ok),
        ...cpuMedians(ok),
        ...runMedian(ok),
        ...flushMedians(ok),
      };
    }
    out[tool] = byPhase;
  }
  return out;
}

/** Medians of the CLI's and each daemon's peak RSS, when the samples have daemons. */
function processMedians(samples: PhaseSample[]): Pick<PhaseSummary, 'medianProcessPeakRssKiB'> {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.daemonPeakRssKiB ?? {})))];
  if (names.length === 0) return {};
  const pick = (get: (s: PhaseSample) => number | null | undefined) =>
    median(samples.flatMap((s) => { const v = get(s); return v === null || v === undefined ? [] : [v]; }));
  const out: Record<string, number | null> = { cli: pick((s) => s.cliPeakRssKiB) };
  for (const name of names) out[name] = pick((s) => s.daemonPeakRssKiB?.[name]);
  return { medianProcessPeakRssKiB: out };
}

/** Restores: the medians of the flush after the tool reported, and of the restore with it. */
function flushMedians(samples: PhaseSample[]): Pick<PhaseSummary, 'medianFlushSeconds' | 'medianFlushedSeconds'> {
  const flushed = samples.flatMap((s) => (s.flushSeconds === undefined ? [] : [s]));
  if (flushed.length !== samples.length || flushed.length === 0) return {};
  return {
    medianFlushSeconds: median(flushed.map((s) => s.flushSeconds!))!,
    medianFlushedSeconds: median(flushed.map((s) => s.seconds + s.flushSeconds!))!,
  };
}

/** Medians of each process's CPU seconds per GiB. */
function cpuMedians(samples: PhaseSample[]): Pick<PhaseSummary, 'medianProcessCpuPerGiB'> {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.cpuSecondsPerGiB ?? {})))];
  if (names.length === 0) return {};
  const out: Record<string, number | null> = {};
  for (const name of names)
    out[name] = median(samples.flatMap((s) => { const v = s.cpuSecondsPerGiB?.[name]; return v === null || v === undefined ? [] : [v]; }));
  return { medianProcessCpuPerGiB: out };
}

/** queuedAt → endedAt of the run object a Cairn phase printed, in seconds. */
export function catalogRunSeconds(output: unknown): number | null {
  const o = output as { queuedAt?: unknown; endedAt?: unknown } | undefined;
  if (typeof o?.queuedAt !== 'string' || typeof o.endedAt !== 'string') return null;
  const s = (Date.parse(o.endedAt) - Date.parse(o.queuedAt)) / 1000;
  return Number.isFinite(s) ? s : null;
}

function runMedian(samples: PhaseSample[]): Pick<PhaseSummary, 'medianRunSeconds'> {
  const values = samples.flatMap((s) => { const v = catalogRunSeconds(s.output); return v === null ? [] : [v]; });
  return values.length ? { medianRunSeconds: median(values) } : {};
}

/** The largest per-phase median peak RSS of a tool: "agent peak RSS" in the targets. */
function peakRss(summary: Partial<Record<Phase, PhaseSummary>> | undefined): number | null {
  const values = PHASES.flatMap((p) => {
    const v = summary?.[p]?.medianPeakRssKiB;
    return v === null || v === undefined ? [] : [v];
  });
  return values.length ? Math.max(...values) : null;
}

/** The borg the targets compare with: lz4 (the issue's) when it ran, else zstd,3. */
function borgOf(summary: BenchReport['summary']): Partial<Record<Phase, PhaseSummary>> | undefined {
  return summary[borgName(summary)];
}

/** The borg Cairn is compared with: borg-lz4 when the run has it, else borg (zstd). */
function borgName(summary: BenchReport['summary']): 'borg-lz4' | 'borg' {
  return summary['borg-lz4'] ? 'borg-lz4' : 'borg';
}

/** The agent's peak RSS bound on every phase (issue 15). */
export const AGENT_RSS_MAX_KIB = 256 * 1024;

export function evaluateTargets(summary: BenchReport['summary']): Target[] {
  const c = summary.cairn;
  const r = summary.restic;
  const b = borgOf(summary);
  const secs = (s: typeof c, p: Phase) => s?.[p]?.medianSeconds;
  const all = (...checks: (boolean | undefined)[]): boolean | null =>
    checks.some((x) => x === undefined) ? null : checks.every(Boolean);
  const le = (x: number | null | undefined, y: number | null | undefined, k = 1) =>
    x === undefined || x === null || y === undefined || y === null ? undefined : x <= k * y;
  const lt = (x: number | undefined, y: number | undefined) =>
    x === undefined || y === undefined ? undefined : x < y;
  return [
    {
      phase: 'full',
      goal: '≤ 0.7× restic and < borg',
      met: all(le(secs(c, 'full'), secs(r, 'full'), 0.7), lt(secs(c, 'full'), secs(b, 'full'))),
    },
    { phase: 'noChange', goal: '≤ restic', met: all(le(secs(c, 'noChange'), secs(r, 'noChange'))) },
    {
      phase: 'afterModify',
      goal: 'time ≤ restic, new bytes ≤ 1.1× restic',
      met: all(
        le(secs(c, 'afterModify'), secs(r, 'afterModify')),
        le(c?.afterModify?.medianNewBytes, r?.afterModify?.medianNewBytes, 1.1),
      ),
    },
    { phase: 'restore', goal: '≤ 1.0× restic (goal 0.8×)', met: all(le(secs(c, 'restore'), secs(r, 'restore'))) },
    {
      phase: 'rss',
      goal: 'Cairn agent peak RSS ≤ 256 MiB on every phase (goal: ≤ restic)',
      met: all(le(peakRss(c), c === undefined ? undefined : AGENT_RSS_MAX_KIB)),
    },
  ];
}

// ---- markdown ------------------------------------------------------------------------------

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const sign = n < 0 ? '−' : '';
  const a = Math.abs(n);
  if (a >= 1e9) return `${sign}${(a / 1e9).toFixed(2)} GB`;
  if (a >= 1e6) return `${sign}${(a / 1e6).toFixed(1)} MB`;
  if (a >= 1e3) return `${sign}${(a / 1e3).toFixed(1)} kB`;
  return `${sign}${a} B`;
}

function mib(kib: number | null | undefined): string {
  return kib === null || kib === undefined ? '–' : `${Math.round(kib / 1024)} MiB`;
}

function ratio(x: number | null | undefined, y: number | null | undefined): string {
  return x === null || x === undefined || y === null || y === undefined || y === 0
    ? '–'
    : `${(x / y).toFixed(2)}×`;
}

const mark = (met: boolean | null) => (met === null ? '–' : met ? '✓' : '✗');

export function toMarkdown(report: BenchReport): string {
  const { summary } = report;
  const tools = Object.keys(summary);
  const lines = [
    `## ${report.title}`,
    '',
    `Dataset: ${report.dataset.source}: ${report.dataset.files.toLocaleString('en')} files, ${bytes(report.dataset.bytes)}. ${report.dataset.note}`,
    '',
    ...Object.entries(report.environment).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '| phase | tool | seconds (median) | MB/s | new bytes stored | peak RSS (client) | runs |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const phase of PHASES) {
    for (const tool of tools) {
      const s = summary[tool]?.[phase];
      lines.push(
        s
          ? `| ${PHASE_LABEL[phase]} | ${tool} | ${s.medianSeconds.toFixed(2)} | ${s.mbPerSecond.toFixed(0)} | ${phase === 'restore' ? '–' : bytes(s.medianNewBytes)} | ${mib(s.medianPeakRssKiB)} | ${s.runs} |`
          : `| ${PHASE_LABEL[phase]} | ${tool} | n/a | | | | 0 |`,
      );
    }
  }
  if (summary.cairn) {
    const c = summary.cairn;
    lines.push(
      '',
      '| phase | time Cairn/restic | time Cairn/borg | new bytes Cairn/restic | RSS Cairn/restic | target | met |',
    );
    lines.push('|---|---:|---:|---:|---:|---|:-:|');
    const targets = new Map(report.targets.map((t) => [t.phase, t]));
    for (const phase of PHASES) {
      const r = summary.restic?.[phase];
      const b = borgOf(summary)?.[phase];
      const t = targets.get(phase);
      lines.push(
        `| ${PHASE_LABEL[phase]} | ${ratio(c[phase]?.medianSeconds, r?.medianSeconds)} | ${ratio(c[phase]?.medianSeconds, b?.medianSeconds)} | ${phase === 'full' || phase === 'afterModify' ? ratio(c[phase]?.medianNewBytes, r?.medianNewBytes) : '–'} | ${ratio(c[phase]?.medianPeakRssKiB, r?.medianPeakRssKiB)} | ${t?.goal ?? ''} | ${mark(t?.met ?? null)} |`,
      );
    }
    const rss = targets.get('rss');
    if (rss) lines.push(`| peak RSS over all phases | | | | | ${rss.goal} | ${mark(rss.met)} |`);
    lines.push(
      '',
      `Cairn/borg compares with ${summary['borg-lz4'] ? 'borg-lz4 (`--compression lz4`)' : 'borg (`--compression zstd,3`)'}. ` +
        'restic and borg do not fsync restored files (their restores can end with data still in the page cache); ' +
        "Cairn's restore has every restored file and directory on disk before it reports success.",
      ...flushLines(summary),
    );
  }
  lines.push(...processLines(report), ...idleLines(report));
  lines.push(...cpuLines(report));
  lines.push('', ...verificationLines(report));
  return `${lines.join('\n')}\n`;
}

/** The restore until its files are on disk: each tool's time + the `sync -f` that followed it (no target: the issue's is restic's own time). */
function flushLines(summary: BenchReport['summary']): string[] {
  const tools = Object.entries(summary).flatMap(([tool, byPhase]) => {
    const r = byPhase.restore;
    return r?.medianFlushedSeconds === undefined || r.medianFlushSeconds === undefined ? [] : [{ tool, r }];
  });
  if (tools.length === 0) return [];
  const flushed = (tool: string) => summary[tool]?.restore?.medianFlushedSeconds;
  const ratios = ['restic', borgName(summary)]
    .filter((t) => flushed(t) !== undefined && flushed('cairn') !== undefined)
    .map((t) => `Cairn/${t} ${ratio(flushed('cairn'), flushed(t))}`);
  return [
    '',
    'Restore until the files are on disk (medians of each run\'s restore + the `sync -f` of its target run right after it): ' +
      tools.map(({ tool, r }) => `${tool} ${r.medianFlushedSeconds!.toFixed(2)} s (sync ${r.medianFlushSeconds!.toFixed(2)} s)`).join(', ') +
      (ratios.length ? `; ${ratios.join(', ')}.` : '.'),
  ];
}

/** Peak RSS of each process of the tools that run daemons (Cairn: CLI, agent, storage, server). */
function processLines(report: BenchReport): string[] {
  const rows: string[] = [];
  const names = new Set<string>();
  for (const byPhase of Object.values(report.summary))
    for (const s of Object.values(byPhase)) for (const n of Object.keys(s.medianProcessPeakRssKiB ?? {})) names.add(n);
  if (names.size === 0) return [];
  const columns = [...names];
  for (const phase of PHASES)
    for (const [tool, byPhase] of Object.entries(report.summary)) {
      const m = byPhase[phase]?.medianProcessPeakRssKiB;
      const run = byPhase[phase]?.medianRunSeconds;
      if (m)
        rows.push(
          `| ${PHASE_LABEL[phase]} | ${tool} | ${run === null || run === undefined ? '–' : run.toFixed(2)} | ${columns.map((c) => (c in m ? mib(m[c]) : '–')).join(' | ')} |`,
        );
    }
  return [
    '',
    'Processes (medians): the run\'s own time in the catalog (queued → ended, without the CLI',
    'around it), and each process\'s peak RSS during the phase (`cli` is the command the phase timed):',
    '',
    `| phase | tool | run in catalog (s) | ${columns.map((c) => `${c} RSS`).join(' | ')} |`,
    `|---|---|---:|${columns.map(() => '---:').join('|')}|`,
    ...rows,
  ];
}

/** CPU seconds per GiB of each process, per phase and tool (for restic and borg: their one process). */
function cpuLines(report: BenchReport): string[] {
  const names = new Set<string>();
  for (const byPhase of Object.values(report.summary))
    for (const s of Object.values(byPhase)) for (const n of Object.keys(s.medianProcessCpuPerGiB ?? {})) names.add(n);
  if (names.size === 0) return [];
  const columns = [...names];
  const rows: string[] = [];
  for (const phase of PHASES)
    for (const [tool, byPhase] of Object.entries(report.summary)) {
      const m = byPhase[phase]?.medianProcessCpuPerGiB;
      if (m) rows.push(`| ${PHASE_LABEL[phase]} | ${tool} | ${columns.map((c) => (m[c] === null || m[c] === undefined ? '–' : m[c].toFixed(2))).join(' | ')} |`);
    }
  return [
    '',
    'CPU seconds per GiB of the dataset (medians; user + system from `/proc/PID/stat` before and',
    'after the phase for daemons, GNU time for the timed command; target ≤ 5 for the agent and the',
    'storage server on restore):',
    '',
    `| phase | tool | ${columns.join(' | ')} |`,
    `|---|---|${columns.map(() => '---:').join('|')}|`,
    ...rows,
  ];
}

/** The client daemon's RSS sampled after each run's last phase (bench --idle-s). */
function idleLines(report: BenchReport): string[] {
  const runs = report.runs.filter((r) => typeof r.facts?.idleSeconds === 'number');
  if (runs.length === 0) return [];
  const mibOf = (v: unknown) => (typeof v === 'number' ? mib(v) : 'gone');
  return [
    '',
    'Idle client daemon after the last phase (VmRSS each second; target ≤ 120 MiB within 60 s):',
    '',
    ...runs.map((r) => {
      const at = r.facts?.idleAtTargetSeconds;
      return `- ${r.tool} run ${r.run}: ${mibOf(r.facts?.idleRssKiB)} after ${r.facts?.idleSeconds} s, ≤ 120 MiB ${typeof at === 'number' ? `after ${at} s` : 'never'}`;
    }),
  ];
}

function verificationLines(report: BenchReport): string[] {
  const out = [
    'Restore verified with `rsync -aH --checksum --dry-run --itemize-changes` (must print nothing):',
  ];
  for (const tool of Object.keys(report.summary)) {
    const runs = report.runs.filter((r) => r.tool === tool);
    const bad = runs.filter((r) => !r.verify?.ok);
    out.push(
      bad.length === 0
        ? `- ${tool}: identical in ${runs.length}/${runs.length} runs ✓`
        : `- ${tool}: **MISMATCH or not restored in ${bad.length}/${runs.length} runs ✗** ${bad.map((r) => r.error ?? `${r.verify?.differenceCount ?? 0} differences, e.g. ${(r.verify?.differences ?? []).slice(0, 3).join('; ')}`).join(' / ')}`,
    );
  }
  const failed = report.runs.filter((r) => r.error);
  for (const r of failed) out.push(`- ${r.tool} run ${r.run} failed: ${r.error}`);
  return out;
}

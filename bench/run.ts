// `npm run bench`: times Cairn, restic and borg side by side on the same data in one run: first
// full backup, no-change backup, backup after ~1% of files changed, full restore (verified with
// rsync). Each run of each tool starts from a fresh repository and a fresh `cp -a` copy of the
// dataset, so the cached source stays pristine. See bench/README.md.
//
//   node bench/run.ts [--data DIR] [--size-mb 1024] [--seed 1] [--runs 5]
//                     [--tools cairn,restic,borg-lz4] [--out bench/out] [--keep-work]
//                     [--repeat-loaded 2] [--settle-s 90] [--idle-s 60]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateDataset } from './gen-dataset.ts';
import {
  duBytes,
  failureLine,
  lastLines,
  parseJsonOutput,
  run,
  runChecked,
  runTimed,
  type TreeStats,
  treeStats,
  verifyRestore,
} from './measure.ts';
import { cpuSecondsOf, peakRssOf, resetPeakRss } from './daemon.ts';
import { IDLE_TARGET_KIB, sampleIdleRss } from './idle-rss.ts';
import { modifyDataset } from './modify-dataset.ts';
import { growthByPart, storedSizes } from './stored-parts.ts';
import {
  type BenchReport,
  evaluateTargets,
  type Phase,
  type PhaseSample,
  type RunRecord,
  summarize,
  toMarkdown,
} from './report.ts';
import { ALL_TOOLS, type BenchTool } from './tools.ts';

const GENERATOR_VERSION = 2; // bump when gen-dataset.ts changes what it writes
const COPY_LIMIT_BYTES = 2e9; // a --data tree below this is copied and modified like ours
const MODIFY_SEED = 'modify-1';

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

interface Options {
  data: string | null;
  sizeMb: number;
  seed: string;
  runs: number;
  tools: BenchTool[];
  out: string;
  keepWork: boolean;
  timeoutMs: number;
  /** how many times a run that started with the load average above LOADED_ABOVE is repeated */
  repeatLoaded: number;
  /** seconds to wait, before each run, for the load average to fall to LOADED_ABOVE */
  settleS: number;
  /** seconds to sample the client daemon's RSS after the last phase (0: skip) */
  idleS: number;
}

/** A run that starts with the 1-minute load average above this is repeated (other work skews it). */
export const LOADED_ABOVE = 1;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      'size-mb': { type: 'string', default: '1024' },
      seed: { type: 'string', default: '1' },
      runs: { type: 'string', default: '5' },
      tools: { type: 'string', default: 'cairn,restic,borg-lz4' },
      out: { type: 'string' },
      'keep-work': { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '900' },
      'repeat-loaded': { type: 'string', default: '2' },
      'settle-s': { type: 'string', default: '90' },
      'idle-s': { type: 'string', default: '60' },
    },
  });
  const tools = values.tools.split(',').map((name) => {
    const tool = ALL_TOOLS.find((t) => t.name === name.trim());
    if (!tool) throw new Error(`unknown tool ${name} (known: ${ALL_TOOLS.map((t) => t.name).join(', ')})`);
    return tool;
  });
  const sizeMb = Number(values['size-mb']);
  const runs = Number(values.runs);
  if (!(sizeMb > 0)) throw new Error('--size-mb must be a positive number');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const timeoutS = Number(values['timeout-s']);
  if (!(timeoutS > 0)) throw new Error('--timeout-s must be a positive number');
  const repeatLoaded = Number(values['repeat-loaded']);
  if (!Number.isInteger(repeatLoaded) || repeatLoaded < 0)
    throw new Error('--repeat-loaded must be a whole number ≥ 0');
  const settleS = Number(values['settle-s']);
  if (!Number.isInteger(settleS) || settleS < 0) throw new Error('--settle-s must be a whole number of seconds ≥ 0');
  const idleS = Number(values['idle-s']);
  if (!(Number.isInteger(idleS) && idleS >= 0)) throw new Error('--idle-s must be a whole number of seconds (0 skips the idle wait)');
  return {
    data: values.data ? path.resolve(values.data) : null,
    sizeMb,
    seed: values.seed,
    runs,
    tools,
    out: values.out ? path.resolve(values.out) : path.join(import.meta.dirname, 'out'),
    keepWork: values['keep-work'],
    timeoutMs: timeoutS * 1000,
    repeatLoaded,
    settleS,
    idleS,
  };
}

async function onPath(binary: string): Promise<boolean> {
  return (await run({ argv: ['which', binary] })).code === 0;
}

/** Installs the Debian packages the comparison needs, only when something is missing. */
async function ensureInstalled(tools: BenchTool[]): Promise<void> {
  const needed = ['rsync', 'du', ...tools.flatMap((t) => (t.requires ? [t.requires] : []))];
  const missing = [];
  for (const bin of needed) if (!(await onPath(bin))) missing.push(bin);
  if (!fs.existsSync('/usr/bin/time')) missing.push('/usr/bin/time');
  if (missing.length === 0) return;
  log(`missing ${missing.join(', ')}: installing restic borgbackup time rsync with apt-get`);
  await runChecked({
    argv: ['sh', '-c', 'apt-get update && apt-get install -y restic borgbackup time rsync'],
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

interface Dataset {
  /** The pristine tree that each run copies (or backs up in place when not copying). */
  root: string;
  stats: TreeStats;
  copy: boolean;
  description: string;
}

/** Generates the dataset into OUT/data, or reuses it when its marker says same size and seed. */
function preparedGeneratedDataset(opts: Options): Dataset {
  const root = path.join(opts.out, 'data');
  const markerFile = path.join(opts.out, 'data.marker.json');
  const wanted = { generator: GENERATOR_VERSION, sizeMb: opts.sizeMb, seed: opts.seed };
  let marker: unknown = null;
  try {
    marker = JSON.parse(fs.readFileSync(markerFile, 'utf8'));
  } catch {
    marker = null; // no usable marker: generate
  }
  const m = marker as typeof wanted | null;
  if (
    m &&
    m.generator === wanted.generator &&
    m.sizeMb === wanted.sizeMb &&
    m.seed === wanted.seed &&
    fs.existsSync(root)
  ) {
    log(`reusing dataset ${root} (${opts.sizeMb} MiB, seed ${opts.seed})`);
  } else {
    fs.rmSync(markerFile, { force: true });
    fs.rmSync(root, { recursive: true, force: true });
    log(`generating ${opts.sizeMb} MiB dataset (seed ${opts.seed}) into ${root}`);
    generateDataset(root, opts.sizeMb, opts.seed);
    fs.writeFileSync(`${markerFile}.tmp`, JSON.stringify(wanted));
    fs.renameSync(`${markerFile}.tmp`, markerFile);
  }
  return {
    root,
    stats: treeStats(root),
    copy: true,
    description: `generated by bench/gen-dataset.ts (${opts.sizeMb} MiB, seed ${opts.seed})`,
  };
}

function givenDataset(dir: string): Dataset {
  const stats = treeStats(dir);
  const copy = stats.bytes < COPY_LIMIT_BYTES;
  return { root: dir, stats, copy, description: dir };
}

/** One tool, one run: fresh copy, fresh repository, the four phases, then rsync verification. */
async function benchOnce(
  tool: BenchTool,
  runNo: number,
  ds: Dataset,
  workDir: string,
  timeoutMs: number,
  idleS: number,
): Promise<RunRecord> {
  const record: RunRecord = { tool: tool.name, run: runNo, phases: {} };
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  const source = ds.copy ? path.join(workDir, 'src') : ds.root;
  if (ds.copy) await runChecked({ argv: ['cp', '-a', ds.root, source] });
  let session: Awaited<ReturnType<BenchTool['open']>>;
  try {
    session = await tool.open(workDir);
  } catch (e) {
    record.error = `could not set up a repository: ${(e as Error).message}`;
    log(`!!! ${tool.name} run ${runNo} FAILED: ${record.error}`);
    return record;
  }
  const peakSinceStart = new Set<string>(); // daemons whose VmHWM could not be reset per phase
  let idleFacts: Record<string, number | null> = {};
  try {
    let stored = await duBytes(session.storedDir);
    let storedFiles = storedSizes(session.storedDir);
    const timedPhase = async (phase: Phase, backupNo: number | null) => {
      const target = path.join(workDir, 'restore');
      if (backupNo === null) fs.mkdirSync(target);
      const cmd = backupNo === null ? session.restore(target) : await session.backup(source, backupNo);
      const daemons = Object.entries(session.daemonPids?.() ?? {});
      for (const [name, pid] of daemons) if (!resetPeakRss(pid)) peakSinceStart.add(name);
      const cpuBefore = daemons.map(([, pid]) => cpuSecondsOf(pid));
      const r = await runTimed(cmd, timeoutMs);
      const daemonPeaks = Object.fromEntries(daemons.map(([name, pid]) => [name, peakRssOf(pid)]));
      // each daemon's CPU seconds in the phase, and every process's per GiB of the dataset
      const daemonCpu: Record<string, number | null> = Object.fromEntries(
        daemons.map(([name, pid], i) => {
          const [before, now] = [cpuBefore[i] ?? null, cpuSecondsOf(pid)];
          return [name, before === null || now === null ? null : Math.round((now - before) * 100) / 100];
        }),
      );
      // What the file system still owes the disk once the tool reported (restic and borg do not
      // fsync): after the phase's own figures. `sync -f` flushes the whole file system, as Cairn's
      // syncfs does, so both include what earlier phases left dirty (the copy, the repository).
      const flushSeconds = backupNo === null && r.code === 0 ? await flushTime(target) : undefined;
      const perGiB = (s: number | null) => (s === null ? null : s / (ds.stats.bytes / 2 ** 30));
      const cpuPerGiB: Record<string, number | null> = {
        cli: perGiB(r.cpuSeconds),
        ...Object.fromEntries(Object.entries(daemonCpu).map(([name, s]) => [name, perGiB(s)])),
      };
      const after = await duBytes(session.storedDir);
      const afterFiles = storedSizes(session.storedDir);
      const sample: PhaseSample = {
        seconds: r.seconds,
        // the daemon that did the client's work (Cairn's agent), else the timed process itself
        peakRssKiB: session.clientDaemon ? (daemonPeaks[session.clientDaemon] ?? null) : r.peakRssKiB,
        newBytes: backupNo === null ? null : after - stored,
        ...(flushSeconds === undefined ? {} : { flushSeconds }),
        ...(backupNo === null ? {} : { newBytesByPart: growthByPart(storedFiles, afterFiles) }),
        cpuSecondsPerGiB: cpuPerGiB,
        ...(daemons.length ? { cliPeakRssKiB: r.peakRssKiB, daemonPeakRssKiB: daemonPeaks, daemonCpuSeconds: daemonCpu } : {}),
      };
      stored = after;
      storedFiles = afterFiles;
      record.phases[phase] = sample;
      const output = parseJsonOutput(r.stdout);
      if (output !== undefined) record.phases[phase] = { ...sample, output };
      if (r.code !== 0) {
        const why = r.timedOut
          ? `timed out after ${timeoutMs / 1000} s (stopped)`
          : `exited ${r.code}: ${failureLine(r.stderr || r.stdout)}`;
        const error = `${PHASE_NAMES[phase]} ${why}`;
        record.phases[phase] = { ...sample, error };
        throw new Error(error);
      }
      if (backupNo !== null) session.afterBackup?.(r.stdout);
      const rss = (kib: number | null | undefined) => `${Math.round((kib ?? 0) / 1024)} MiB`;
      const daemonRss = daemons.map(([name]) => `, ${name} ${rss(daemonPeaks[name])} ${daemonCpu[name] ?? '?'} CPU-s`).join('');
      log(
        `  ${tool.name} run ${runNo} ${PHASE_NAMES[phase]}: ${r.seconds.toFixed(2)} s, RSS ${rss(r.peakRssKiB)}${daemonRss}${sample.newBytes === null ? '' : `, +${(sample.newBytes / 1e6).toFixed(1)} MB`}${flushSeconds === undefined ? '' : `, then sync -f ${flushSeconds.toFixed(2)} s`}`,
      );
      const parts = Object.entries(sample.newBytesByPart ?? {}).filter(([, d]) => Math.abs(d) >= 1000);
      if (parts.length) log(`    stored: ${parts.map(([part, d]) => `${part} ${d > 0 ? '+' : ''}${d}`).join(', ')}`);
    };
    await timedPhase('full', 1);
    await timedPhase('noChange', 2);
    if (ds.copy) {
      record.modify = modifyDataset(source, MODIFY_SEED);
      await timedPhase('afterModify', 3);
    }
    await timedPhase('restore', null);
    record.verify = await verifyRestore(source, path.join(workDir, 'restore'));
    if (!record.verify.ok) {
      log(
        `!!! ${tool.name} run ${runNo}: RESTORE DIFFERS FROM SOURCE (${record.verify.differenceCount} rsync lines):`,
      );
      for (const line of record.verify.differences) log(`!!!   ${line}`);
    }
    const clientPid = session.clientDaemon ? session.daemonPids?.()[session.clientDaemon] : undefined;
    if (idleS > 0 && clientPid !== undefined) {
      log(`  ${tool.name} run ${runNo}: sampling the ${session.clientDaemon}'s RSS for ${idleS} s (--idle-s 0 skips)`);
      const idle = await sampleIdleRss(clientPid, idleS);
      const mib = (kib: number | null) => (kib === null ? 'gone' : `${Math.round(kib / 1024)} MiB`);
      log(
        `  ${tool.name} run ${runNo} idle: ${mib(idle.samplesKiB[0] ?? null)} at once, ${mib(idle.endKiB)} after ${idleS} s, ≤ ${IDLE_TARGET_KIB / 1024} MiB ${idle.firstAtTargetSeconds === null ? 'never' : `after ${idle.firstAtTargetSeconds} s`}`,
      );
      idleFacts = { idleRssKiB: idle.endKiB, idleSeconds: idleS, idleAtTargetSeconds: idle.firstAtTargetSeconds };
    }
  } catch (e) {
    record.error = (e as Error).message;
    log(`!!! ${tool.name} run ${runNo} FAILED: ${record.error}`);
  } finally {
    record.facts = { ...daemonPeakFacts(record), ...idleFacts, ...session.facts?.() };
    if (peakSinceStart.size)
      record.facts.daemonPeakRss = `since start, not per phase, for ${[...peakSinceStart].join(', ')} (clear_refs refused)`;
    await session.stop();
  }
  return record;
}

/** Each daemon's largest peak RSS over the run's phases, as `agentPeakRssKiB` and so on. */
function daemonPeakFacts(record: RunRecord): Record<string, number> {
  const facts: Record<string, number> = {};
  for (const sample of Object.values(record.phases))
    for (const [name, kib] of Object.entries(sample.daemonPeakRssKiB ?? {}))
      if (kib !== null) facts[`${name}PeakRssKiB`] = Math.max(facts[`${name}PeakRssKiB`] ?? 0, kib);
  return facts;
}

const PHASE_NAMES: Record<Phase, string> = {
  full: 'full backup',
  noChange: 'no-change backup',
  afterModify: 'after-modify backup',
  restore: 'restore',
};

/**
 * Waits up to `seconds` for the 1-minute load average to fall to LOADED_ABOVE (the previous run's
 * own work decays from it in about a minute); answers the load average then.
 */
async function settled(seconds: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  while ((os.loadavg()[0] ?? 0) > LOADED_ABOVE && Date.now() < until) await new Promise((r) => setTimeout(r, 5000));
  return os.loadavg()[0] ?? 0;
}

/** The 1-minute load average against the core count: other work on the machine skews timings. */
function loadAverage(): string {
  return `${os.loadavg()[0]?.toFixed(2)} (${os.cpus().length} cores)`;
}

async function environment(tools: BenchTool[], workDir: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}`,
    'page cache': 'warm (nothing dropped)',
    'load average at start': loadAverage(),
    'work dir': `${workDir} (${lastLines((await run({ argv: ['df', '-hT', path.dirname(workDir)] })).stdout, 1)})`,
  };
  for (const tool of tools)
    env[tool.name] = await tool.version().catch((e: Error) => `unavailable: ${e.message}`);
  return env;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  await ensureInstalled(opts.tools);
  fs.mkdirSync(opts.out, { recursive: true });
  const ds = opts.data ? givenDataset(opts.data) : preparedGeneratedDataset(opts);
  const workDir = path.join(opts.out, 'work');
  const note = ds.copy
    ? `Each run backs up a fresh \`cp -a\` copy; the after-modify phase runs bench/modify-dataset.ts (seed ${MODIFY_SEED}) on it.`
    : `Backed up in place (≥ ${COPY_LIMIT_BYTES / 1e9} GB, not copied): after-modify phase skipped (n/a).`;
  log(
    `dataset ${ds.description}: ${ds.stats.files} files, ${(ds.stats.bytes / 1e6).toFixed(1)} MB; ${opts.runs} run(s) of ${opts.tools.map((t) => t.name).join(', ')}`,
  );
  const env = await environment(opts.tools, workDir);
  if ((os.loadavg()[0] ?? 0) > os.cpus().length / 2) {
    env.warning =
      '**the machine was busy when the bench started: absolute times and even ratios are unreliable**';
    log(`!!! load average ${loadAverage()}: other work is running, timings will be noisy`);
  }
  const runs: RunRecord[] = [];
  for (let runNo = 1; runNo <= opts.runs; runNo++) {
    // Rotate the order each run so slow drift on a shared machine does not favour one tool.
    const order = opts.tools.map((_, i) => opts.tools[(i + runNo - 1) % opts.tools.length]!);
    for (let attempt = 0; ; attempt++) {
      // a run that starts on a loaded machine is done again (all tools, so ratios stay paired);
      // the medians use the last attempt, the earlier ones stay in results.json marked superseded
      const loadAtStart = await settled(opts.settleS);
      const attemptRuns: RunRecord[] = [];
      for (const tool of order) {
        log(`run ${runNo}/${opts.runs}${attempt ? ` (repeat ${attempt})` : ''}: ${tool.name}, load ${loadAtStart.toFixed(2)}`);
        attemptRuns.push({ ...(await benchOnce(tool, runNo, ds, workDir, opts.timeoutMs, opts.idleS)), loadAtStart });
      }
      runs.push(...attemptRuns);
      if (loadAtStart <= LOADED_ABOVE || attempt >= opts.repeatLoaded) break;
      log(`run ${runNo} started at load ${loadAtStart.toFixed(2)} > ${LOADED_ABOVE}: repeating it`);
      for (const r of attemptRuns) r.superseded = true;
    }
  }
  if (!opts.keepWork) fs.rmSync(workDir, { recursive: true, force: true });
  env['load average at end'] = loadAverage();
  const counted = runs.filter((r) => !r.superseded);
  const summary = summarize(counted, ds.stats.bytes);
  const report: BenchReport = {
    title: `Backup benchmark: ${opts.runs} run(s), medians`,
    dataset: { source: ds.description, files: ds.stats.files, bytes: ds.stats.bytes, note },
    environment: env,
    summary,
    targets: evaluateTargets(summary),
    runs,
  };
  const markdown = toMarkdown(report);
  fs.writeFileSync(path.join(opts.out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(opts.out, 'results.md'), markdown);
  process.stdout.write(markdown);
  log(`wrote ${path.join(opts.out, 'results.json')} and results.md`);
  const bad = counted.filter((r) => r.error || !r.verify?.ok);
  if (bad.length) log(`!!! ${bad.length} run(s) failed or restored a different tree: see above`);
  return bad.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).message ?? String(e)}\n`);
    process.exitCode = 1;
  },
);

/** Seconds `sync -f` takes to write a file system's dirty data out (the restore target's). */
async function flushTime(dir: string): Promise<number> {
  const started = performance.now();
  await runChecked({ argv: ['sync', '-f', dir] });
  return (performance.now() - started) / 1000;
}

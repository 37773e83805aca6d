// Benchmark (not a test, outside `npm test` and .ci/run; issue 15): N distinct files of 16–60
// bytes (default 10,000,000) through the three real parts. The files live on an ext4 image with
// inline_data (a sparse file, loop-mounted: small files sit in their inodes, as on a real mail or
// source tree), or on tmpfs where loop devices are missing; Cairn's own data dirs are on the
// ordinary disk. Reports the full backup's time, the agent's peak RSS (VmHWM) and CPU-seconds,
// the catalog's size, the p99 of the first `ls` page of 100 random directories at the API, and a
// subtree restore (its time, rsync-identical). Needs root (mount).
// Run: npm run bench:many-files -- [--files N] [--work DIR] [--fs ext4|tmpfs] [--keep]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../src/cli/api-client.ts';
import { cairn } from './cairn-system.ts';
import { peakRssOf, resetPeakRss } from './daemon.ts';
import { runTimed, verifyRestore } from './measure.ts';
import { Rng } from './random.ts';

const PER_DIR = 1000; // files in a leaf directory
const PER_GROUP = 100; // leaf directories in a group (the restored subtree is one group)
const LS_SAMPLES = 100;
const HOUR_MS = 3_600_000;

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '10000000' },
    work: { type: 'string', default: path.resolve(import.meta.dirname, 'out', 'many-files') },
    fs: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const files = Number(values.files);
if (!Number.isSafeInteger(files) || files < PER_DIR) throw new Error(`--files must be a whole number ≥ ${PER_DIR}`);
if (values.fs !== undefined && values.fs !== 'ext4' && values.fs !== 'tmpfs') throw new Error('--fs must be ext4 or tmpfs');
const work = path.resolve(values.work);
const mnt = path.join(work, 'mnt');
const image = path.join(work, 'files.img');
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Mounts the file system the files go on: ext4 with inline_data on a loop device, else tmpfs. */
function mountFiles(): 'ext4' | 'tmpfs' {
  fs.mkdirSync(mnt, { recursive: true });
  if (values.fs !== 'tmpfs') {
    try {
      fs.rmSync(image, { force: true });
      sh('truncate', ['-s', String(Math.ceil((files * 512 + 2 ** 30) / 2 ** 20)) + 'M', image]);
      sh('mkfs.ext4', ['-q', '-F', '-O', 'inline_data', '-I', '256', '-N', String(Math.ceil(files * 1.05)), image]);
      sh('mount', ['-o', 'loop,noatime', image, mnt]);
      return 'ext4';
    } catch (e) {
      if (values.fs === 'ext4') throw e;
      console.error(`loop-mounted ext4 failed (${(e as Error).message.split('\n')[0]}): files on tmpfs`);
      fs.rmSync(image, { force: true });
    }
  }
  sh('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil((files * 4096 * 1.1 + 2 ** 30) / 2 ** 20)}M,nr_inodes=${Math.ceil(files * 1.1)}`, 'tmpfs', mnt]);
  return 'tmpfs';
}

function unmountFiles(): void {
  try {
    sh('umount', [mnt]);
  } catch {
    // not mounted
  }
  fs.rmSync(image, { force: true });
}

const leafDir = (root: string, d: number) =>
  path.join(root, `g${String(Math.floor(d / PER_GROUP)).padStart(4, '0')}`, `d${String(d).padStart(6, '0')}`);

/** N distinct files of 16–60 bytes: the file's number, then seeded letters. */
function generate(root: string): number {
  const rng = new Rng('many-files', 'content');
  const started = performance.now();
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let d = 0; d * PER_DIR < files; d++) {
    const dir = leafDir(root, d);
    fs.mkdirSync(dir, { recursive: true });
    for (let i = d * PER_DIR; i < Math.min(files, (d + 1) * PER_DIR); i++) {
      const length = rng.int(16, 60);
      let text = `${i} `;
      while (text.length < length) text += letters[rng.int(0, 25)];
      fs.writeFileSync(path.join(dir, `f${i}`), text);
    }
  }
  return (performance.now() - started) / 1000;
}

/** utime + stime of a live process, in seconds. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
}

function filesSize(dir: string, match: RegExp): number {
  let size = 0;
  for (const name of fs.readdirSync(dir)) if (match.test(name)) size += fs.statSync(path.join(dir, name)).size;
  return size;
}

function p(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

fs.mkdirSync(work, { recursive: true });
for (const dir of ['cairn', 'restore']) fs.rmSync(path.join(work, dir), { recursive: true, force: true });
unmountFiles();
const fsKind = mountFiles();
const source = path.join(mnt, 'data');
const session = await (async () => {
  const generateSeconds = generate(source);
  console.error(`${files} files generated on ${fsKind} in ${generateSeconds.toFixed(0)} s`);
  return { generateSeconds, tool: await cairn.open(path.join(work, 'cairn')) };
})();
const { tool } = session;
try {
  const pids = tool.daemonPids!();
  resetPeakRss(pids.agent);
  const agentCpu = cpuSeconds(pids.agent);
  const storageCpu = cpuSeconds(pids.storage);
  const serverCpu = cpuSeconds(pids.server);
  const loadBefore = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const backup = await runTimed(await tool.backup(source, 1), 10 * HOUR_MS);
  if (backup.code !== 0) throw new Error(`backup failed: ${backup.stderr.slice(-2000)}`);
  tool.afterBackup?.(backup.stdout);
  const run = JSON.parse(backup.stdout) as { snapshot: string; files: number };
  const backupResult = {
    seconds: +backup.seconds.toFixed(1),
    files: run.files,
    agentPeakRssMiB: +((peakRssOf(pids.agent) ?? NaN) / 1024).toFixed(0),
    agentCpuSeconds: +(cpuSeconds(pids.agent) - agentCpu).toFixed(1),
    storageCpuSeconds: +(cpuSeconds(pids.storage) - storageCpu).toFixed(1),
    serverCpuSeconds: +(cpuSeconds(pids.server) - serverCpu).toFixed(1),
    loadBefore: Number(loadBefore),
  };
  console.error(`backup: ${JSON.stringify(backupResult)}`);

  const serverDir = path.join(work, 'cairn', 'cairn-server');
  const catalogMiB = +(filesSize(serverDir, /^catalog/) / 2 ** 20).toFixed(1);

  // the first page of 100 random leaf directories at the API, one request at a time
  const api = await ApiClient.fromLogin(path.join(work, 'cairn', 'cairn-cli.json'));
  const rng = new Rng('many-files', 'ls');
  const dirs = Math.ceil(files / PER_DIR);
  const lsMs: number[] = [];
  for (let i = 0; i < LS_SAMPLES; i++) {
    const dir = leafDir(source, rng.int(0, dirs - 1));
    const started = performance.now();
    const page = await api.request<unknown[]>('GET', `/api/snapshots/${run.snapshot}/ls?path=${encodeURIComponent(dir)}&limit=1000`);
    lsMs.push(performance.now() - started);
    if (page.length === 0) throw new Error(`ls ${dir}: no entries`);
  }
  const ls = { samples: LS_SAMPLES, p50Ms: +p(lsMs, 0.5).toFixed(1), p99Ms: +p(lsMs, 0.99).toFixed(1) };
  console.error(`ls: ${JSON.stringify(ls)}`);

  // one group (PER_GROUP directories of PER_DIR files) restored, then compared
  const subtree = path.dirname(leafDir(source, Math.floor((dirs - 1) / 2)));
  const target = path.join(work, 'restore');
  resetPeakRss(pids.agent);
  const restoreStart = cpuSeconds(pids.agent);
  const restoreCmd = tool.restore(target);
  const restore = await runTimed({ ...restoreCmd, argv: [...restoreCmd.argv, '--include', subtree] }, HOUR_MS);
  if (restore.code !== 0) throw new Error(`restore failed: ${restore.stderr.slice(-2000)}`);
  const verified = await verifyRestore(subtree, target);
  const restored = {
    subtree: path.relative(source, subtree),
    files: fs.readdirSync(path.join(target, subtree)).reduce((n, d) => n + fs.readdirSync(path.join(target, subtree, d)).length, 0),
    seconds: +restore.seconds.toFixed(1),
    agentPeakRssMiB: +((peakRssOf(pids.agent) ?? NaN) / 1024).toFixed(0),
    agentCpuSeconds: +(cpuSeconds(pids.agent) - restoreStart).toFixed(1),
    identical: verified.ok,
  };
  console.error(`restore: ${JSON.stringify(restored)}`);
  const report = { files, fs: fsKind, generateSeconds: +session.generateSeconds.toFixed(0), backup: backupResult, catalogMiB, ls, restore: restored };
  fs.writeFileSync(path.join(work, `report-${files}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report));
} finally {
  await tool.stop();
  if (!values.keep) {
    unmountFiles();
    fs.rmSync(path.join(work, 'cairn'), { recursive: true, force: true });
    fs.rmSync(path.join(work, 'restore'), { recursive: true, force: true });
  }
}

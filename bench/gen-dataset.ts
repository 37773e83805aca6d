// Generates the benchmark's deterministic dataset: the same (SIZE_MB, SEED) gives a byte-identical
// tree (names, contents, modes, mtimes, links), whatever the file system's order.
//
//   node bench/gen-dataset.ts OUT SIZE_MB SEED
//
// The mix is meant to look like a server's disk: four big files holding ~45% of the bytes (a
// random "video", a "disk image" of zero/text/random/repeated segments, a structured "database",
// a big log), then ~2,000 small and medium files with log-uniform sizes (text 3-5x compressible,
// random, structured ~2x, exact duplicates, ~2% empty) in nested directories with unicode names,
// a few hard links, and relative and absolute symlinks including dangling ones.
import fs from 'node:fs';
import path from 'node:path';
import { type ContentKind, contentSource, TEXT_KINDS } from './content.ts';
import { Rng } from './random.ts';

const MiB = 1024 * 1024;
const WRITE_BLOCK = 4 * MiB;
const SMALL_FILE_COUNT = 2000;
const DIR_COUNT = 150;
const SYMLINK_COUNT = 40;
const HARDLINK_COUNT = 3;
const BASE_MTIME = 1_580_000_000; // early 2020: nothing looks "just written" to a backup tool

const TOP_DIRS = ['home/alice', 'home/bob', 'srv/www', 'var/lib', 'var/log', 'projects', 'media', 'etc'];
const DIR_NAMES = [
  'src',
  'lib',
  'docs',
  'data',
  'logs',
  'cache',
  'build',
  'assets',
  'tmp',
  'old',
  'reports',
  '2022',
  '2023',
  '2024',
  'archive',
  'users',
  'config',
  'tests',
  'images',
  'db',
  'notes',
  'backup',
  'exports',
];
const UNICODE_NAMES = [
  'Crème brûlée',
  'Überweisungen',
  '東京 写真',
  'Москва',
  'Ωμέγα',
  'emoji 🚀 launch',
  'año nuevo',
  'København',
  '한국어 문서',
  'naïve café',
];
const NAME_WORDS = [
  'report',
  'invoice',
  'photo',
  'notes',
  'draft',
  'summary',
  'config',
  'export',
  'dump',
  'ledger',
  'plan',
  'readme',
  'trace',
  'sample',
  'budget',
  'contract',
  'scan',
  'thesis',
];
const EXTENSIONS: Record<string, string> = {
  prose: '.txt',
  log: '.log',
  json: '.json',
  code: '.c', // not .ts: the dataset may sit inside this TypeScript project
  csv: '.csv',
  random: '.bin',
  structured: '.dat',
};

interface BigFileSpec {
  rel: string;
  kind: ContentKind;
}
const BIG_FILES: BigFileSpec[] = [
  { rel: 'media/video/holiday-2023.mp4', kind: 'random' },
  { rel: 'srv/vm/disk-01.img', kind: 'image' },
  { rel: 'var/lib/app/app-database.db', kind: 'structured' },
  { rel: 'var/log/big-server.log', kind: 'log' },
];

export interface DatasetSummary {
  out: string;
  seed: string;
  sizeMb: number;
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  empty: number;
  large: { path: string; bytes: number }[];
  kinds: Record<string, { files: number; bytes: number }>;
}

class DatasetWriter {
  readonly rng: Rng;
  readonly dirs: string[] = [];
  readonly written: string[] = []; // non-empty regular files, candidates for dups and links
  readonly mtimes: [string, number][] = [];
  readonly usedNames = new Set<string>();
  readonly summary: DatasetSummary;
  readonly out: string;
  readonly seed: string;

  constructor(out: string, seed: string, sizeMb: number) {
    this.out = out;
    this.seed = seed;
    this.rng = new Rng(seed, 'layout');
    this.summary = {
      out,
      seed,
      sizeMb,
      files: 0,
      bytes: 0,
      dirs: 0,
      symlinks: 0,
      hardlinks: 0,
      empty: 0,
      large: [],
      kinds: {},
    };
  }

  abs(rel: string): string {
    return path.join(this.out, rel);
  }

  /** A path in `dir` not used yet: `base` + ext, or `base (2)` + ext and so on. */
  claimName(dir: string, base: string, ext: string): string {
    let rel = `${dir}/${base}${ext}`;
    for (let n = 2; this.usedNames.has(rel); n++) rel = `${dir}/${base} (${n})${ext}`;
    this.usedNames.add(rel);
    return rel;
  }

  makeDirs(): void {
    const all = new Set<string>();
    for (const top of TOP_DIRS) all.add(top);
    for (const big of BIG_FILES) all.add(path.posix.dirname(big.rel));
    this.dirs.push(...all);
    while (this.dirs.length < DIR_COUNT) {
      const parent = this.rng.pick(this.dirs);
      if (parent.split('/').length >= 6) continue;
      const name = this.rng.next() < 0.08 ? this.rng.pick(UNICODE_NAMES) : this.rng.pick(DIR_NAMES);
      const dir = `${parent}/${name}`;
      if (all.has(dir)) continue;
      all.add(dir);
      this.dirs.push(dir);
    }
    for (const dir of this.dirs) fs.mkdirSync(this.abs(dir), { recursive: true });
    this.summary.dirs = this.dirs.length;
  }

  writeFile(rel: string, kind: ContentKind, bytes: number, mode: number, reusable = true): void {
    const source = contentSource(kind, this.seed, `file:${rel}`);
    const fd = fs.openSync(this.abs(rel), 'wx', 0o600);
    try {
      for (let done = 0; done < bytes; ) {
        const chunk = source.take(Math.min(WRITE_BLOCK, bytes - done));
        fs.writeSync(fd, chunk);
        done += chunk.length;
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(this.abs(rel), mode); // explicit, so the umask cannot change the tree
    this.record(rel, reusable ? kind : `large-${kind}`, bytes, reusable);
  }

  /** Counts a file and gives it an mtime; `reusable` files may be duplicated and linked to. */
  record(rel: string, kind: string, bytes: number, reusable = true): void {
    const s = this.summary;
    s.files++;
    s.bytes += bytes;
    if (bytes === 0) s.empty++;
    const k = s.kinds[kind] ?? { files: 0, bytes: 0 };
    k.files++;
    k.bytes += bytes;
    s.kinds[kind] = k;
    if (bytes > 0 && reusable) this.written.push(rel);
    this.mtimes.push([rel, BASE_MTIME + this.rng.int(0, 86400 * 1500)]);
  }

  fileMode(kind: string): number {
    const r = this.rng.next();
    if (kind === 'code' && r < 0.3) return 0o755;
    return r > 0.95 ? 0o600 : 0o644;
  }
}

function writeBigFiles(w: DatasetWriter, total: number): number {
  const weights = BIG_FILES.map(() => 0.7 + w.rng.next() * 0.7);
  const sum = weights.reduce((a, b) => a + b, 0);
  const budget = Math.floor(total * 0.45);
  let used = 0;
  BIG_FILES.forEach((big, i) => {
    const share = Math.floor((budget * (weights[i] ?? 1)) / sum);
    const bytes = Math.max(4096, share - (share % 4096));
    w.usedNames.add(big.rel);
    w.writeFile(big.rel, big.kind, bytes, 0o644, false);
    w.summary.large.push({ path: big.rel, bytes });
    used += bytes;
  });
  return used;
}

interface SmallSpec {
  kind: ContentKind | 'empty' | 'dup';
  raw: number;
  dir: string;
  unicode: boolean;
}

function writeSmallFiles(w: DatasetWriter, budget: number): void {
  const { rng } = w;
  const specs: SmallSpec[] = [];
  for (let i = 0; i < SMALL_FILE_COUNT; i++) {
    const t = rng.next();
    const kind: SmallSpec['kind'] =
      t < 0.02
        ? 'empty'
        : t < 0.45
          ? rng.pick(TEXT_KINDS)
          : t < 0.72
            ? 'random'
            : t < 0.93
              ? 'structured'
              : 'dup';
    const raw = rng.next() < 0.9 ? rng.logUniform(200, 2 * MiB) : rng.logUniform(2 * MiB, 16 * MiB);
    specs.push({ kind, raw, dir: rng.pick(w.dirs), unicode: rng.next() < 0.05 });
  }
  // Scale sizes so the new (non-duplicate) files fill ~93% of the budget; duplicates add the rest.
  const rawTotal = specs.reduce((a, s) => a + (s.kind === 'empty' || s.kind === 'dup' ? 0 : s.raw), 0);
  const scale = (budget * 0.93) / rawTotal;
  specs.forEach((spec, i) => {
    if (spec.kind === 'empty') {
      const rel = w.claimName(spec.dir, spec.unicode ? `${rng.pick(UNICODE_NAMES)} leer` : `empty-${i}`, '');
      fs.writeFileSync(w.abs(rel), '', { mode: 0o644 });
      fs.chmodSync(w.abs(rel), 0o644);
      w.record(rel, 'empty', 0);
    } else if (spec.kind === 'dup') {
      if (w.written.length === 0) return;
      const src = rng.pick(w.written);
      const ext = path.posix.extname(src);
      const rel = w.claimName(spec.dir, `copy of ${path.posix.basename(src, ext)}`, ext);
      fs.copyFileSync(w.abs(src), w.abs(rel));
      fs.chmodSync(w.abs(rel), 0o644);
      w.record(rel, 'dup', fs.statSync(w.abs(rel)).size);
    } else {
      const bytes = Math.max(1, Math.floor(spec.raw * scale));
      const base = spec.unicode
        ? `${rng.pick(UNICODE_NAMES)} ${i}`
        : `${rng.pick(NAME_WORDS)}-${rng.pick(NAME_WORDS)}_${i}`;
      const rel = w.claimName(spec.dir, base, EXTENSIONS[spec.kind] ?? '.bin');
      w.writeFile(rel, spec.kind, bytes, w.fileMode(spec.kind));
    }
  });
}

function writeLinks(w: DatasetWriter): string[] {
  const { rng } = w;
  for (let i = 0; i < HARDLINK_COUNT && w.written.length; i++) {
    const src = rng.pick(w.written);
    const rel = w.claimName(rng.pick(w.dirs), `hardlink-${i}-${path.posix.basename(src)}`, '');
    fs.linkSync(w.abs(src), w.abs(rel));
    w.summary.hardlinks++;
  }
  const links: string[] = [];
  for (let i = 0; i < SYMLINK_COUNT; i++) {
    const dir = rng.pick(w.dirs);
    let target: string;
    if (i === 0)
      target = 'no/such/target.txt'; // dangling, relative
    else if (i === 1)
      target = '/nonexistent/cairn-bench/target'; // dangling, absolute
    else if (i % 6 === 0) target = path.posix.relative(dir, rng.pick(w.dirs)) || '.';
    else target = path.posix.relative(dir, rng.pick(w.written));
    const rel = w.claimName(dir, `link-${i}`, '');
    fs.symlinkSync(target, w.abs(rel));
    links.push(rel);
    w.summary.symlinks++;
  }
  return links;
}

function setTimesAndDirModes(w: DatasetWriter, links: string[]): void {
  for (const [rel, sec] of w.mtimes) fs.utimesSync(w.abs(rel), sec, sec);
  for (const rel of links) fs.lutimesSync(w.abs(rel), BASE_MTIME, BASE_MTIME);
  // Directories last and deepest first: writing into a directory would change its mtime.
  const all = new Set<string>();
  for (const dir of w.dirs) {
    const parts = dir.split('/');
    for (let n = 1; n <= parts.length; n++) all.add(parts.slice(0, n).join('/'));
  }
  const byDepth = [...all].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
  for (const dir of byDepth) {
    fs.chmodSync(w.abs(dir), w.rng.next() < 0.05 ? 0o700 : 0o755);
    const sec = BASE_MTIME + 86400 * 1600 + w.rng.int(0, 86400);
    fs.utimesSync(w.abs(dir), sec, sec);
  }
  fs.chmodSync(w.out, 0o755);
  fs.utimesSync(w.out, BASE_MTIME + 86400 * 1700, BASE_MTIME + 86400 * 1700);
}

export function generateDataset(out: string, sizeMb: number, seed: string): DatasetSummary {
  const total = Math.round(sizeMb * MiB);
  if (!(total > 0)) throw new Error(`SIZE_MB must be a positive number, not ${sizeMb}`);
  const root = path.resolve(out);
  if (fs.existsSync(root) && fs.readdirSync(root).length > 0)
    throw new Error(`refusing to write into non-empty ${root}`);
  fs.mkdirSync(root, { recursive: true });
  const w = new DatasetWriter(root, seed, sizeMb);
  w.makeDirs();
  const bigBytes = writeBigFiles(w, total);
  writeSmallFiles(w, total - bigBytes);
  const links = writeLinks(w);
  setTimesAndDirModes(w, links);
  return w.summary;
}

if (import.meta.main) {
  const [out, size, seed] = process.argv.slice(2);
  if (!out || !size) {
    process.stderr.write('usage: node bench/gen-dataset.ts OUT SIZE_MB [SEED]\n');
    process.exit(2);
  }
  try {
    process.stdout.write(`${JSON.stringify(generateDataset(out, Number(size), seed ?? '1'))}\n`);
  } catch (e) {
    process.stderr.write(`gen-dataset: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

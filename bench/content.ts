// File contents for the benchmark dataset: text that compresses 3-5x (prose, logs, JSON, code,
// CSV), structured "database" pages that compress about 2x, incompressible random bytes, and a
// "disk image" of 1 MiB segments (zeros, text, random, repeats of earlier segments). Each kind
// is a ContentSource that hands out the next n bytes of one file, so big files stream.
import { KeyStream, Rng } from './random.ts';

export type TextKind = 'prose' | 'log' | 'json' | 'code' | 'csv';
export type ContentKind = TextKind | 'random' | 'structured' | 'image';
export const TEXT_KINDS: readonly TextKind[] = ['prose', 'log', 'json', 'code', 'csv'];

export interface ContentSource {
  /** The next n bytes of the file. */
  take(n: number): Buffer;
}

const MiB = 1024 * 1024;

// Common words come first; wordAt() favours the front of the list like natural text does.
const VOCABULARY = (
  'a the and of to in is it for on with as at by this that be or from was are an not have but ' +
  'all we can will one if more when out so up about which there their what into time been has ' +
  'would other new some could them these than only then two first any may its over also after ' +
  'use most year way work system data backup server storage file files disk network agent vault ' +
  'chunk pack index snapshot restore schedule retention policy job client host machine volume ' +
  'record table page query cache buffer stream worker thread process memory report error warning ' +
  'request response status update delete create insert select window river mountain garden ' +
  'kitchen morning evening winter summer letter market station village library history ' +
  'question answer problem reason result number member figure public private general special ' +
  'simple strong little large small early late quick slow bright quiet careful honest ' +
  'remember consider continue describe explain include provide receive require suggest'
).split(' ');
const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'];
const C_TYPES = ['int', 'int', 'size_t', 'char *', 'struct item *', 'uint32_t'];
const SERVICES = ['api', 'auth', 'billing', 'search', 'mailer', 'scheduler', 'gateway', 'indexer'];

function wordAt(rng: Rng): string {
  const r = rng.next();
  return VOCABULARY[Math.floor(r * r * VOCABULARY.length)] ?? 'the';
}

function words(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(wordAt(rng));
  return out.join(' ');
}

/** One line of text of the given kind; `state` carries what must increase (time, row ids). */
function textLine(kind: TextKind, rng: Rng, state: { clock: number; row: number }): string {
  switch (kind) {
    case 'prose': {
      const s = words(rng, rng.int(5, 18));
      return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
    }
    case 'log': {
      state.clock += rng.int(0, 3000);
      const when = new Date(state.clock).toISOString();
      const svc = rng.pick(SERVICES);
      const req = rng.nextU32().toString(16).padStart(8, '0');
      return `${when} ${rng.pick(LEVELS)} ${svc}[${rng.int(100, 140)}] req=${req} GET /v2/${wordAt(rng)}/${rng.int(1, 5000)} -> ${rng.next() < 0.93 ? 200 : 503} in ${rng.int(1, 800)}ms`;
    }
    case 'json': {
      state.row++;
      return `  {"id": ${state.row}, "title": "${words(rng, 3)}", "owner": "${wordAt(rng)}", "size": ${rng.int(0, 99999)}, "ok": ${rng.next() < 0.8}},`;
    }
    case 'code': {
      const indent = '    '.repeat(rng.int(0, 3));
      const name = `${wordAt(rng)}${rng.pick(['Count', 'Index', 'Total', 'Name', 'List'])}`;
      return rng.next() < 0.2
        ? `${indent}// ${words(rng, rng.int(3, 9))}`
        : `${indent}${rng.pick(C_TYPES)} ${name} = ${wordAt(rng)}_of(${name}, ${rng.int(0, 255)});`;
    }
    case 'csv': {
      state.row++;
      state.clock += rng.int(1000, 60000);
      return `${state.row},${new Date(state.clock).toISOString().slice(0, 10)},${wordAt(rng)},${wordAt(rng)},${rng.int(1, 500)},${(rng.int(0, 99999) / 100).toFixed(2)}`;
    }
  }
}

class TextSource implements ContentSource {
  private readonly rng: Rng;
  private readonly state: { clock: number; row: number };
  private readonly kind: TextKind;
  private carry = Buffer.alloc(0);

  constructor(kind: TextKind, seed: string, label: string) {
    this.kind = kind;
    this.rng = new Rng(seed, label);
    this.state = { clock: Date.UTC(2023, 0, 1) + this.rng.int(0, 3e10), row: this.rng.int(0, 1e6) };
  }

  take(n: number): Buffer {
    const lines: string[] = [];
    let have = this.carry.length;
    while (have < n) {
      const line = textLine(this.kind, this.rng, this.state);
      lines.push(line);
      have += Buffer.byteLength(line) + 1;
    }
    const all = lines.length ? Buffer.concat([this.carry, Buffer.from(`${lines.join('\n')}\n`)]) : this.carry;
    this.carry = all.subarray(n);
    return all.subarray(0, n);
  }
}

class RandomSource implements ContentSource {
  private readonly stream: KeyStream;
  constructor(seed: string, label: string) {
    this.stream = new KeyStream(seed, label);
  }
  take(n: number): Buffer {
    return this.stream.bytes(n);
  }
}

const PAGE = 8192;
const ROW = 64;

/** 8 KiB pages of 64-byte rows: ids, times and enums compress well, a 20-byte hash does not. */
class StructuredSource implements ContentSource {
  private readonly rng: Rng;
  private readonly hashes: KeyStream;
  private pending = Buffer.alloc(0);
  private pageNo = 0;
  private row = 0;
  private clock = 1_690_000_000;

  constructor(seed: string, label: string) {
    this.rng = new Rng(seed, label);
    this.hashes = new KeyStream(seed, label);
  }

  private page(pageNo: number): Buffer {
    const page = Buffer.alloc(PAGE);
    page.writeUInt32LE(pageNo, 0);
    page.write('PAGE', 4, 'latin1');
    const rows = Math.floor((PAGE - 16) / ROW);
    page.writeUInt16LE(rows, 8);
    const hash = this.hashes.bytes(rows * 20);
    for (let i = 0; i < rows; i++) {
      const at = 16 + i * ROW;
      this.row++;
      this.clock += this.rng.int(0, 40);
      page.writeUInt32LE(this.row, at);
      page.writeUInt32LE(this.clock, at + 4);
      page.writeUInt16LE(this.rng.int(0, 6), at + 8);
      page.write(wordAt(this.rng).padEnd(14, '\0'), at + 10, 14, 'latin1');
      hash.copy(page, at + 24, i * 20, i * 20 + 20);
      page.writeDoubleLE(this.rng.int(0, 20000) / 4, at + 44);
      // bytes 52..63 stay zero: row padding, as real page formats have
    }
    return page;
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [this.pending];
    let have = this.pending.length;
    while (have < n) {
      const page = this.page(this.pageNo++);
      parts.push(page);
      have += page.length;
    }
    const all = Buffer.concat(parts);
    this.pending = all.subarray(n);
    return all.subarray(0, n);
  }
}

/** 1 MiB segments: zeros, text, random, or an exact repeat of an earlier segment. */
class DiskImageSource implements ContentSource {
  private readonly rng: Rng;
  private readonly segmentLabels: string[] = [];
  private pending = Buffer.alloc(0);
  private segmentNo = 0;
  private readonly seed: string;
  private readonly label: string;

  constructor(seed: string, label: string) {
    this.seed = seed;
    this.label = label;
    this.rng = new Rng(seed, label);
  }

  private segment(): Buffer {
    const t = this.rng.next();
    const no = this.segmentNo++;
    if (t < 0.2) return Buffer.alloc(MiB);
    let segLabel: string;
    if (t < 0.75 || this.segmentLabels.length === 0) {
      segLabel = `${this.label}#${no}:${t < 0.45 ? this.rng.pick(TEXT_KINDS) : 'random'}`;
      this.segmentLabels.push(segLabel);
    } else {
      segLabel = this.rng.pick(this.segmentLabels); // regenerate an earlier one: bounded memory
    }
    const kind = segLabel.slice(segLabel.lastIndexOf(':') + 1);
    const source =
      kind === 'random'
        ? new RandomSource(this.seed, segLabel)
        : new TextSource(kind as TextKind, this.seed, segLabel);
    return source.take(MiB);
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [this.pending];
    let have = this.pending.length;
    while (have < n) {
      const seg = this.segment();
      parts.push(seg);
      have += seg.length;
    }
    const all = Buffer.concat(parts);
    this.pending = all.subarray(n);
    return all.subarray(0, n);
  }
}

export function contentSource(kind: ContentKind, seed: string, label: string): ContentSource {
  switch (kind) {
    case 'random':
      return new RandomSource(seed, label);
    case 'structured':
      return new StructuredSource(seed, label);
    case 'image':
      return new DiskImageSource(seed, label);
    default:
      return new TextSource(kind, seed, label);
  }
}

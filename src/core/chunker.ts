// Content-defined chunking: normalized FastCDC (level 2) over a gear table derived from the vault's
// chunkerKey, so boundaries reveal nothing about content to anyone without the key.
// The rolling hash is h = (h << 1) + gear[byte] in int32; its top bits depend on the last 32 bytes,
// so a cut is where the top bits are zero. Between min and avg the mask has 2 more bits than
// log2(avg) (cuts are rarer), past avg 2 fewer (cuts come sooner): sizes crowd around avg.
//
// cutPointReference is the definition, in plain int32 JavaScript. cutPoint computes the same
// thing with a small WebAssembly loop built below (about twice as fast: V8 keeps the JS loop at
// ~500 MB/s and its tiering is erratic for a function called once per megabyte); the tests check
// both agree.
import { createCipheriv } from 'node:crypto';
import { CairnError } from './errors.ts';

export type ChunkerParams = { min: number; avg: number; max: number };
export const DEFAULT_CHUNKER: ChunkerParams = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 };

const MIN_CHUNK = 64;
const MAX_CHUNK = 64 * 1024 * 1024;
const NORMALIZATION = 2;

/** Gear table (256 int32) derived from the vault's chunkerKey (AES-256-CTR keystream). */
export function gearTable(chunkerKey: Uint8Array): Int32Array {
  if (chunkerKey.length !== 32) throw new CairnError('E_INTERNAL', 'chunkerKey must be 32 bytes');
  const cipher = createCipheriv('aes-256-ctr', chunkerKey, Buffer.alloc(16));
  const stream = Buffer.concat([cipher.update(Buffer.alloc(256 * 4)), cipher.final()]);
  const gear = new Int32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = stream.readInt32LE(i * 4); // fixed byte order: same table everywhere
  return gear;
}

/** Validates untrusted params: integers, avg a power of two, 64 B ≤ min < avg < max ≤ 64 MiB. E_BAD_REQUEST otherwise. */
export function checkChunkerParams(p: unknown): ChunkerParams {
  const bad = (why: string) => new CairnError('E_BAD_REQUEST', `invalid chunker parameters: ${why}`);
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad('not an object');
  const { min, avg, max } = p as Record<string, unknown>;
  if (typeof min !== 'number' || !Number.isInteger(min)) throw bad('min must be an integer');
  if (typeof avg !== 'number' || !Number.isInteger(avg)) throw bad('avg must be an integer');
  if (typeof max !== 'number' || !Number.isInteger(max)) throw bad('max must be an integer');
  if (!(MIN_CHUNK <= min && min < avg && avg < max && max <= MAX_CHUNK))
    throw bad(`need ${MIN_CHUNK} ≤ min < avg < max ≤ ${MAX_CHUNK}`);
  if ((avg & (avg - 1)) !== 0) throw bad('avg must be a power of two');
  return { min, avg, max };
}

/** Number of top hash bits that must be zero before avg (small) and after it (large). */
function maskBits(avg: number): { bitsS: number; bitsL: number } {
  const bits = 31 - Math.clz32(avg);
  return { bitsS: bits + NORMALIZATION, bitsL: bits - NORMALIZATION };
}

/** An int32 mask of the top `bits` bits. */
function topBits(bits: number): number {
  return ~((1 << (32 - bits)) - 1) | 0;
}

/** The definition of a cut point (same contract as cutPoint), in int32 JavaScript. */
export function cutPointReference(
  params: ChunkerParams,
  gear: Int32Array,
  data: Uint8Array,
  start: number,
  end: number,
): number {
  let n = end - start;
  if (n <= params.min) return n;
  if (n > params.max) n = params.max;
  const { bitsS, bitsL } = maskBits(params.avg);
  const maskS = topBits(bitsS);
  const maskL = topBits(bitsL);
  const normalEnd = start + Math.min(n, params.avg);
  const stop = start + n;
  let h = 0;
  let i = start + params.min; // the first min bytes are never a boundary: not hashed (standard FastCDC)
  for (; i < normalEnd; i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    if ((h & maskS) === 0) return i + 1 - start;
  }
  for (; i < stop; i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    if ((h & maskL) === 0) return i + 1 - start;
  }
  return n;
}

// --- the WebAssembly scan ---
// Memory: gear table at 0 (256 little-endian i32), the bytes to scan from DATA_AT.
// cut(i, normalEnd, stop, thrS, thrL) → offset just past the cut, or stop when there is none.
// (h & topBits(k)) === 0 is tested as (h unsigned) < 2^(32-k). Bytes go in pairs so the hash's
// dependency chain is one shift and one add per two bytes: h2 = (h << 2) + ((g0 << 1) + g1).

const DATA_AT = 1024;
const [P_I, P_NORMAL, P_STOP, P_THR_S, P_THR_L, L_H, L_END, L_G0, L_G1, L_H1] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
];
const OP = { block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d, ret: 0x0f, void: 0x40 };
const I32 = { load: 0x28, load8u: 0x2d, const: 0x41, ltU: 0x49, geU: 0x4f, add: 0x6a, sub: 0x6b, shl: 0x74 };

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    const b = v & 0x7f;
    v >>>= 7;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}
const get = (l: number) => [0x20, l];
const set = (l: number) => [0x21, l];
const tee = (l: number) => [0x22, l];
const num = (v: number) => [I32.const, ...uleb(v)]; // small non-negative constants only (< 64)
/** gear[data[i + k]] */
const gearAt = (k: number) => [...get(P_I), I32.load8u, 0, k, ...num(2), I32.shl, I32.load, 2, 0];
/** if (h < thr) return i + k + 1 */
const cutIf = (h: number, thr: number, k: number) => [
  ...[...get(h), ...get(thr), I32.ltU, OP.if, OP.void],
  ...[...get(P_I), ...num(k + 1), I32.add, OP.ret, OP.end],
];
/** One byte: h = (h << 1) + gear[data[i]], then the cut test. */
const oneByte = (thr: number) => [
  ...[...get(L_H), ...num(1), I32.shl, ...gearAt(0), I32.add, ...set(L_H)],
  ...cutIf(L_H, thr, 0),
];
/** Bytes k and k+1: h1 = (h << 1) + g0 and h = (h << 2) + ((g0 << 1) + g1), both computed from h. */
const twoBytes = (k: number, thr: number) => [
  ...[...gearAt(k), ...set(L_G0), ...gearAt(k + 1), ...set(L_G1)],
  ...[...get(L_H), ...num(1), I32.shl, ...get(L_G0), I32.add, ...tee(L_H1)],
  ...[
    ...get(L_H),
    ...num(2),
    I32.shl,
    ...get(L_G0),
    ...num(1),
    I32.shl,
    ...get(L_G1),
    I32.add,
    I32.add,
    ...set(L_H),
  ],
  ...cutIf(L_H1, thr, k),
  ...cutIf(L_H, thr, k + 1),
];
/** Scans [i, end) with threshold thr: four bytes a turn while they last, then one at a time. */
const scanTo = (end: number, thr: number) => [
  ...[...get(end), ...num(3), I32.sub, ...set(L_END)],
  ...[OP.block, OP.void, OP.loop, OP.void, ...get(P_I), ...get(L_END), I32.geU, OP.brIf, 1],
  ...[...twoBytes(0, thr), ...twoBytes(2, thr), ...get(P_I), ...num(4), I32.add, ...set(P_I), OP.br, 0],
  ...[OP.end, OP.end],
  ...[OP.block, OP.void, OP.loop, OP.void, ...get(P_I), ...get(end), I32.geU, OP.brIf, 1],
  ...[...oneByte(thr), ...get(P_I), ...num(1), I32.add, ...set(P_I), OP.br, 0],
  ...[OP.end, OP.end],
];

function buildScanModule(): Uint8Array {
  const body = [1, 5, 0x7f, ...scanTo(P_NORMAL, P_THR_S), ...scanTo(P_STOP, P_THR_L), ...get(P_STOP), OP.end];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f]), // (i32 x5) → i32
    ...section(3, [1, 0]),
    ...section(5, [1, 0, 1]), // one memory, one page to start
    ...section(7, [2, ...name('mem'), 2, 0, ...name('cut'), 0, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

// The WebAssembly global as far as we use it (the project's lib settings do not declare it).
type WasmMemory = { buffer: ArrayBuffer; grow(pages: number): number };
type ScanExports = {
  mem: WasmMemory;
  cut: (i: number, normalEnd: number, stop: number, thrS: number, thrL: number) => number;
};
type WasmApi = {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
let scanner: ScanExports | undefined;
let scanBytes = Buffer.alloc(0);
let scanGear: Int32Array | undefined;

function scannerFor(gear: Int32Array, bytes: number): ScanExports {
  if (!scanner) scanner = new Wasm.Instance(new Wasm.Module(buildScanModule())).exports as ScanExports;
  const need = DATA_AT + bytes;
  if (scanner.mem.buffer.byteLength < need)
    scanner.mem.grow(Math.ceil((need - scanner.mem.buffer.byteLength) / 65536));
  if (scanBytes.buffer !== scanner.mem.buffer) {
    scanBytes = Buffer.from(scanner.mem.buffer);
    scanGear = undefined;
  }
  if (scanGear !== gear) {
    new Int32Array(scanner.mem.buffer, 0, 256).set(gear);
    scanGear = gear;
  }
  return scanner;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Length of the chunk that starts at data[start], looking no further than data[end-1].
 * Returns end-start when no cut point is found before `end` (and never more than params.max).
 * Callers keep at least params.max bytes available (end - start ≥ max) unless at end of file,
 * so a returned length is always a real boundary.
 */
export function cutPoint(
  params: ChunkerParams,
  gear: Int32Array,
  data: Uint8Array,
  start: number,
  end: number,
): number {
  let n = end - start;
  if (n <= params.min) return n;
  if (n > params.max) n = params.max;
  const { bitsS, bitsL } = maskBits(params.avg);
  const scanned = n - params.min;
  const wasm = scannerFor(gear, scanned);
  // Buffer#copy is a native memmove; TypedArray#set from a SharedArrayBuffer (the backup's arenas)
  // copies byte by byte as V8 must for shared memory, 3-4× slower (~0.25 CPU-s per GiB)
  asBuffer(data).copy(scanBytes, DATA_AT, start + params.min, start + n);
  const normalEnd = DATA_AT + Math.min(n, params.avg) - params.min;
  const at = wasm.cut(DATA_AT, normalEnd, DATA_AT + scanned, 2 ** (32 - bitsS), 2 ** (32 - bitsL));
  return at - DATA_AT + params.min;
}

/** Splits a whole buffer (as if it were a file) into chunk lengths; for tests and small inputs. */
export function chunkLengths(params: ChunkerParams, gear: Int32Array, data: Uint8Array): number[] {
  const lengths: number[] = [];
  for (let start = 0; start < data.length; ) {
    const len = cutPoint(params, gear, data, start, Math.min(data.length, start + params.max));
    lengths.push(len);
    start += len;
  }
  return lengths;
}

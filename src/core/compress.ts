// Compression of chunk payloads: zstd only when it pays. A 16 KiB level-1 probe tells random or
// already-compressed data apart cheaply, so such chunks skip zstd entirely; otherwise the
// compressed form is kept only when it is smaller. Decompression is bounded: a hostile or corrupt
// frame cannot make us allocate more than the caller allows.
import { isMainThread } from 'node:worker_threads';
import { constants, createZstdCompress, createZstdDecompress, type ZstdCompress, type ZstdDecompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { CairnError } from './errors.ts';
import { freeOwned, ScratchBuffer } from './free-owned.ts';

export const FLAG_RAW = 0;
export const FLAG_ZSTD = 1;
export type CompressionFlag = 0 | 1;

// 16 KiB, not 64: the probe is paid again by every chunk that compresses (1/64 of a 1 MiB chunk,
// not 1/16); on the bench set it stores the same bytes for ~7% less zstd time (docs/performance.md).
const PROBE_SIZE = 16 * 1024;
/** One output buffer holds what zstd makes of a payload that does not shrink much. */
const OUTPUT_SLACK = 1024;
// The probe is this many slices spread from the chunk's start to its end, not its first 16 KiB: a
// chunk that starts and ends random around a compressible run (a disk image's zero or text
// segment) was stored raw, 1.4 MB of the bench's after-modify backup (docs/performance.md).
const PROBE_SLICES = 4;
const SLICE = PROBE_SIZE / PROBE_SLICES;
/** The probe must shrink below this fraction for the rest to be worth compressing. */
const PROBE_RATIO = 0.97;
/** Largest payload we ever decompress (the largest chunk a vault may configure). */
export const MAX_PLAIN_SIZE = 64 * 1024 * 1024;

/** The slices are gathered here: compressIfWorth is synchronous, so one per thread serves. */
const probeBuffer = Buffer.alloc(PROBE_SIZE);

function zstd(data: Uint8Array, level: number): Buffer {
  return zstdCompressSync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: level },
    pledgedSrcSize: data.length,
    chunkSize: data.length + OUTPUT_SLACK,
  });
}

/**
 * A worker thread's kept zstd compressors (one per level) and the output buffer they write into.
 * zstdCompressSync makes a context per call (tables allocated and zeroed) and a fresh output, at
 * the 64 KiB mmap threshold (bin/cairn) new mappings faulted in page by page: twice per chunk
 * with the probe. A kept context compresses each chunk in one call as a frame of its own, which
 * records the content size as the one-shot call does: on 300 MB of the bench set's 512 KiB
 * chunks 0.57 CPU-s against 1.0, the same bytes out (docs/performance.md, "ninth part"). Only in
 * worker threads: a backup's chunker workers end with their run, the agent's main thread (which
 * seals the small tree blobs) would keep them between runs.
 */
const compressors = new Map<number, DrivenZstd | false>();
/** Kept output: compressIfWorth's result lies here (borrowed) until the thread's next call; above 8 MiB, a buffer of its own. */
const compressedOut = new ScratchBuffer(8 * 1024 * 1024);

function keptCompressor(level: number): DrivenZstd | undefined {
  if (isMainThread) return undefined;
  const kept = compressors.get(level);
  if (kept === false) return undefined;
  if (kept?._handle && !kept.destroyed) return kept;
  const e = drivable(createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: level }, chunkSize: 64 }));
  compressors.set(level, e ?? false);
  return e;
}

/**
 * `data` compressed as one whole frame into `out` with the thread's kept compressor: its length,
 * or -1 when that did not end the frame in `out` (the compressor is then dropped, mid-frame).
 */
function zstdKept(e: DrivenZstd, level: number, data: Uint8Array, out: Buffer): number {
  const written = finishInto(e, data, out);
  // zstd stops short of the frame's end only when the output is full
  if (written >= 0 && written < out.length) return written;
  if (!e.destroyed) e.destroy();
  compressors.delete(level);
  return -1;
}

/** zstd's worst case for `n` bytes (ZSTD_COMPRESSBOUND) and a margin. */
function compressBound(n: number): number {
  return n + (n >> 8) + (n < 128 * 1024 ? (128 * 1024 - n) >> 11 : 0) + OUTPUT_SLACK;
}

/** Whether PROBE_SLICES slices spread evenly over `plain` (longer than the probe) compress. */
function probeCompresses(plain: Uint8Array): boolean {
  // Buffer#copy (memmove): TypedArray#set copies a SharedArrayBuffer view (the arenas) byte by byte
  const from = Buffer.from(plain.buffer, plain.byteOffset, plain.length);
  for (let i = 0; i < PROBE_SLICES; i++) {
    const at = Math.floor((i * (plain.length - SLICE)) / (PROBE_SLICES - 1));
    from.copy(probeBuffer, i * SLICE, at, at + SLICE);
  }
  const e = keptCompressor(1);
  if (e) {
    const n = zstdKept(e, 1, probeBuffer, probeOut);
    if (n >= 0) return n < PROBE_SIZE * PROBE_RATIO;
  }
  return zstd(probeBuffer, 1).length < PROBE_SIZE * PROBE_RATIO;
}

/** The probe's output: always enough for a whole frame of PROBE_SIZE. */
const probeOut = Buffer.alloc(compressBound(PROBE_SIZE));

/**
 * Returns the payload as it should be stored: zstd-compressed (flag 1) or as given (flag 0).
 * `borrowed`: the compressed bytes lie in this thread's kept output, valid until its next call;
 * use them at once, and neither keep nor free them.
 */
export function compressIfWorth(plain: Uint8Array, level = 1): { flag: CompressionFlag; bytes: Uint8Array; borrowed?: boolean } {
  if (plain.length === 0) return { flag: FLAG_RAW, bytes: plain };
  if (plain.length > PROBE_SIZE && !probeCompresses(plain)) return { flag: FLAG_RAW, bytes: plain };
  const e = keptCompressor(level);
  if (e) {
    const out = compressedOut.get(compressBound(plain.length));
    const n = zstdKept(e, level, plain, out);
    const borrowed = compressedOut.holds(out);
    if (n >= 0 && n < plain.length) return { flag: FLAG_ZSTD, bytes: out.subarray(0, n), borrowed };
    if (!borrowed) freeOwned(out);
    if (n >= 0) return { flag: FLAG_RAW, bytes: plain };
  }
  const packed = zstd(plain, level);
  if (packed.length < plain.length) return { flag: FLAG_ZSTD, bytes: packed };
  freeOwned(packed);
  return { flag: FLAG_RAW, bytes: plain };
}

/**
 * Where decompress() may put its output: `take` lends a buffer of at least `length` bytes, `give`
 * takes back one that was lent and not returned as output (a frame that failed).
 */
export type OutputBuffers = { take(length: number): Buffer; give(buffer: Buffer): void };

/** Undoes compressIfWorth. E_CORRUPT on an unknown flag, a bad frame, or output above maxLen. */
export function decompress(flag: number, bytes: Uint8Array, maxLen = MAX_PLAIN_SIZE, output?: OutputBuffers): Buffer {
  const limit = Math.min(maxLen, MAX_PLAIN_SIZE);
  if (flag === FLAG_RAW) {
    if (bytes.length > limit) throw new CairnError('E_CORRUPT', `blob payload larger than ${limit} bytes`);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  if (flag !== FLAG_ZSTD) throw new CairnError('E_CORRUPT', `unknown compression flag ${flag}`);
  const size = frameContentSize(bytes);
  if (size !== undefined && size > limit) throw new CairnError('E_CORRUPT', `blob payload of ${size} bytes is larger than ${limit}`);
  if (output && size !== undefined) {
    const out = output.take(size);
    if (zstdInto(bytes, size, out)) return out.subarray(0, size);
    output.give(out); // the one-shot path below says what is wrong with the frame
  }
  try {
    return zstdDecompressSync(bytes, { maxOutputLength: limit, chunkSize: outputChunkSize(bytes.length, size) });
  } catch (e) {
    throw new CairnError('E_CORRUPT', `blob payload does not decompress: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** The internals of Node's zstd streams that its own synchronous path drives (lib/zlib.js, processChunkSync). */
type DrivenZstd = (ZstdCompress | ZstdDecompress) & {
  _handle: { writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void } | null;
  _writeState: Uint32Array;
  _finishFlushFlag: number;
};

/** `stream` ready to be driven a whole input at a time, or undefined when this Node lacks what that needs. */
function drivable(stream: ZstdCompress | ZstdDecompress): DrivenZstd | undefined {
  const e = stream as DrivenZstd;
  if (typeof e._handle?.writeSync !== 'function' || !(e._writeState instanceof Uint32Array) || typeof e._finishFlushFlag !== 'number') return undefined;
  // a damaged frame destroys the stream, which then emits 'error' on a later tick: the frame's
  // caller has been told already (by the one-shot path), so the event needs only a listener
  e.on('error', () => undefined);
  return e;
}

/** One finishing call of `e` over all of `input` into `out`: the bytes written, or -1 if input is left or the stream is gone. */
function finishInto(e: DrivenZstd, input: Uint8Array, out: Buffer): number {
  e._handle!.writeSync(e._finishFlushFlag, input, 0, input.length, out, 0, out.length);
  const [outLeft, inLeft] = e._writeState;
  return e._handle && !e.destroyed && inLeft === 0 ? out.length - outLeft! : -1;
}

/** This thread's zstd decompression context, kept from one frame to the next; false: Node lacks what it needs. */
let engine: DrivenZstd | undefined | false;

function threadEngine(): DrivenZstd | undefined {
  if (engine === false) return undefined;
  if (engine?._handle && !engine.destroyed) return engine;
  const e = drivable(createZstdDecompress({ chunkSize: 64 }));
  engine = e ?? false;
  return e;
}

/**
 * Decodes the single frame `frame` of `size` bytes into `out` (at least `size` long) with the
 * thread's context: no context made, no output allocated per frame. zstdDecompressSync makes both
 * every call, and at the 64 KiB mmap threshold (bin/cairn) each fresh output is a new mapping
 * faulted in page by page: on 1 MiB frames this decodes in ~0.3× its time (docs/performance.md,
 * "eighth part"). zstd decodes a whole frame into an output that holds it in one pass and is then
 * ready for the next frame. False (context dropped) on anything but exactly `size` bytes out of
 * the whole input; so are frames Node's internals cannot be driven for.
 */
function zstdInto(frame: Uint8Array, size: number, out: Buffer): boolean {
  const e = threadEngine();
  if (!e) return false;
  if (finishInto(e, frame, out) === size) return true;
  if (!e.destroyed) e.destroy(); // perhaps mid-frame: the next frame gets a fresh context
  engine = undefined;
  return false;
}

/**
 * zstd's output buffer step. Known the frame's content size, one byte more: the whole output then
 * lands in one buffer and the stream ends without a second, empty step (1 MiB text chunks open
 * ~1.7× faster than with a 1 MiB step, which needs two steps and a copy to join them). Unknown,
 * a guess from the input size: the 16 KiB default costs ~18% on 1 MiB chunks, but a 1 MiB
 * buffer for a 2 KiB tree blob costs more than decompressing it.
 */
function outputChunkSize(compressedLength: number, contentSize: number | undefined): number {
  if (contentSize !== undefined) return Math.max(64, contentSize + 1); // 64: zlib's smallest step
  return Math.min(1 << 20, Math.max(16 << 10, 2 ** Math.ceil(Math.log2(compressedLength * 4))));
}

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The content size a zstd frame header declares (RFC 8878 §3.1.1.1), or undefined when the frame
 * does not say or the bytes are not a frame (decompression then reports the damage). Our own
 * frames always say: they are compressed in one call, which records the size.
 */
export function frameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) return undefined;
  const descriptor = frame[4]!;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (frame.length < at + fcsBytes) return undefined;
  if (fcsBytes === 1) return view.getUint8(at);
  if (fcsBytes === 2) return view.getUint16(at, true) + 256;
  if (fcsBytes === 4) return view.getUint32(at, true);
  const size = view.getBigUint64(at, true);
  return size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size);
}

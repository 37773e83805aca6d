// Reading a storage server's blobs answer (`id[32] length u32be sealed[length]` frames) as it
// streams in: plain 'data' events rather than an async iterator per 16 KiB TLS record, each blob
// copied at most once, and the answer paused while more than READY_BYTES of frames wait.
import type { IncomingMessage } from 'node:http';
import { CairnError } from '../core/errors.ts';
import { BLOB_FRAME_HEADER, ID_SIZE, LIMITS } from '../protocol/data-plane.ts';

/** Parsed frames waiting for the reader beyond this many bytes pause the answer (back-pressure). */
const READY_BYTES = 1024 * 1024;

/**
 * Splits a blobs answer into frames as its chunks arrive: each blob gets one buffer of its own
 * and every byte is copied once (a blob lying whole inside one chunk is a slice of it, no copy,
 * unless the chunks are `reused`: a reader's buffer that the next read overwrites).
 */
export class FrameParser {
  /** ids asked for and not yet answered (latin1 → the asked buffers; an id asked twice comes twice) */
  readonly #expected = new Map<string, Buffer[]>();
  readonly #header = Buffer.allocUnsafe(BLOB_FRAME_HEADER);
  #headerGot = 0;
  #sealed: Buffer | undefined;
  #sealedGot = 0;
  /** the id of the frame being read */
  #id: Buffer | undefined;
  /** frames parsed so far */
  count = 0;
  ready: { id: Buffer; sealed: Buffer }[] = [];
  readyBytes = 0;

  readonly #alloc: (length: number) => Buffer;
  readonly #reused: boolean;

  /** `alloc`: where a blob spanning several chunks is assembled (a reader may hand out reused buffers) */
  constructor(expected: readonly Buffer[], alloc: (length: number) => Buffer = (n) => Buffer.allocUnsafe(n), options: { reused?: boolean } = {}) {
    this.#alloc = alloc;
    this.#reused = options.reused ?? false;
    for (const id of expected) {
      const key = id.toString('latin1');
      const same = this.#expected.get(key);
      if (same) same.push(id);
      else this.#expected.set(key, [id]);
    }
  }

  get midFrame(): boolean {
    return this.#headerGot > 0 || this.#sealed !== undefined;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (!this.#sealed) {
        const k = Math.min(BLOB_FRAME_HEADER - this.#headerGot, chunk.length - at);
        chunk.copy(this.#header, this.#headerGot, at, at + k);
        this.#headerGot += k;
        at += k;
        if (this.#headerGot < BLOB_FRAME_HEADER) return;
        this.#headerGot = 0;
        this.#id = this.#take(this.#header.subarray(0, ID_SIZE));
        const length = this.#header.readUInt32BE(ID_SIZE);
        // a blob lies inside one pack: anything longer is a broken or hostile answer, not an allocation to make
        if (length > LIMITS.packBytes) throw new CairnError('E_CORRUPT', `storage server sent a blob of ${length} bytes, more than a pack holds`);
        if (chunk.length - at >= length && !this.#reused) {
          this.#done(chunk.subarray(at, at + length));
          at += length;
          continue;
        }
        this.#sealed = this.#alloc(length);
        this.#sealedGot = 0;
      }
      const k = Math.min(this.#sealed.length - this.#sealedGot, chunk.length - at);
      chunk.copy(this.#sealed, this.#sealedGot, at, at + k);
      this.#sealedGot += k;
      at += k;
      if (this.#sealedGot === this.#sealed.length) {
        this.#done(this.#sealed);
        this.#sealed = undefined;
      }
    }
  }

  /**
   * Where the next bytes of the blob being assembled may be read straight in (at most `max`
   * bytes, and only when at least `min` are left of it): a reader that can choose its read
   * buffer saves the copy. undefined between blobs. Report what was read there with `advance`.
   */
  target(min: number, max: number): Buffer | undefined {
    const sealed = this.#sealed;
    if (!sealed) return undefined;
    const left = sealed.length - this.#sealedGot;
    if (left < min || max < min) return undefined;
    return sealed.subarray(this.#sealedGot, this.#sealedGot + Math.min(left, max));
  }

  /** `n` bytes were read into the last target(). */
  advance(n: number): void {
    const sealed = this.#sealed!;
    this.#sealedGot += n;
    if (this.#sealedGot === sealed.length) {
      this.#done(sealed);
      this.#sealed = undefined;
    }
  }

  /** The asked-for id a frame header names; E_CORRUPT for one not asked for (or answered already). */
  #take(id: Buffer): Buffer {
    const key = id.toString('latin1');
    const same = this.#expected.get(key);
    const asked = same?.pop();
    if (!asked) throw new CairnError('E_CORRUPT', `storage server sent blob ${id.toString('hex')}, which was not asked for`);
    if (same!.length === 0) this.#expected.delete(key);
    return asked;
  }

  #done(sealed: Buffer): void {
    this.ready.push({ id: this.#id!, sealed });
    this.readyBytes += sealed.length;
    this.count++;
  }
}

/**
 * The frames of one blobs answer, in the order the storage server read them (by pack), each
 * checked to be one of the ids asked for; the answer must hold every id asked, once per asking.
 */
export async function* readBlobFrames(
  res: IncomingMessage,
  expected: Buffer[],
  host: string,
  alloc?: (length: number) => Buffer,
): AsyncIterable<{ id: Buffer; sealed: Buffer }> {
  // Plain 'data' events (no async iterator per 16 KiB TLS record); frames queue up to
  // READY_BYTES before the answer is paused.
  const parser = new FrameParser(expected, alloc);
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    try {
      parser.push(chunk);
    } catch (e) {
      failure ??= e;
      res.destroy();
    }
    if (parser.readyBytes >= READY_BYTES) res.pause();
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (e: Error) => {
    failure ??= e instanceof CairnError ? e : new CairnError('E_UNAVAILABLE', `storage server ${host}: ${e.message}`, { cause: e });
    wake?.();
  };
  const onClose = () => {
    if (!res.complete)
      failure ??= new CairnError('E_UNAVAILABLE', `storage server ${host}: blobs answer cut short`);
    ended = true;
    wake?.();
  };
  res.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      while (parser.ready.length) {
        const frame = parser.ready.shift()!;
        parser.readyBytes -= frame.sealed.length;
        if (res.isPaused() && parser.readyBytes < READY_BYTES && failure === undefined) res.resume();
        yield frame;
      }
      if (failure !== undefined) throw failure;
      if (ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    res.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    if (!res.complete) res.destroy();
  }
  if (parser.count !== expected.length || parser.midFrame)
    throw new CairnError('E_CORRUPT', `storage server answer ended after ${parser.count} of ${expected.length} blobs`);
}

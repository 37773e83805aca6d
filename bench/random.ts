// Deterministic randomness for the benchmark dataset: a small seeded PRNG for decisions and an
// AES-CTR keystream for incompressible bytes. Every stream is derived from (seed, label), so one
// file's content never depends on how many random numbers another file consumed.
import { createCipheriv, createHash } from 'node:crypto';

function labelDigest(seed: string, label: string): Buffer {
  return createHash('sha256').update(`cairn-bench\0${seed}\0${label}`).digest();
}

/** xoshiro128** seeded from SHA-256(seed, label): fast, and identical on every platform. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: string, label: string) {
    const d = labelDigest(seed, `rng:${label}`);
    this.s0 = d.readUInt32LE(0);
    this.s1 = d.readUInt32LE(4);
    this.s2 = d.readUInt32LE(8);
    this.s3 = d.readUInt32LE(12) | 1; // never the all-zero state
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** Log-uniform in [lo, hi): as many files of 1-10 KiB as of 100 KiB-1 MiB. */
  logUniform(lo: number, hi: number): number {
    return Math.exp(Math.log(lo) + this.next() * (Math.log(hi) - Math.log(lo)));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** An endless incompressible byte stream (AES-256-CTR of zeros) for one (seed, label). */
export class KeyStream {
  private readonly cipher;

  constructor(seed: string, label: string) {
    const key = labelDigest(seed, `key:${label}`);
    const iv = labelDigest(seed, `iv:${label}`).subarray(0, 16);
    this.cipher = createCipheriv('aes-256-ctr', key, iv);
  }

  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }
}

/** A stable, seed-keyed ordering key for a string (used to pick files without bias to names). */
export function rankKey(seed: string, label: string): string {
  return labelDigest(seed, `rank:${label}`).toString('hex');
}

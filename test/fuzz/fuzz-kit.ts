// The fuzzing harness every test/fuzz file shares (issue 13 item 8). A parser of outside input
// passes when, for every input up to 64 KiB, it returns or throws a CairnError (never a
// TypeError, RangeError or anything else) within 100 ms. Inputs are random bytes, text or JSON,
// and valid encodings with bytes flipped, inserted or deleted, so runs get past the first checks.
//
// `npm test`: a fixed seed and a run count that keeps each parser under 2 s. `npm run fuzz`
// (bench/fuzz.ts) sets CAIRN_FUZZ_SEED (random, printed) and CAIRN_FUZZ_MS (time per parser).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { isCairnError } from '../../src/core/errors.ts';

/** Largest input fed to a parser. */
export const MAX_INPUT_BYTES = 64 * 1024;
/** Longest a parser may take on one input. */
export const MAX_INPUT_MS = 100;
/** The seed of `npm test`; `npm run fuzz` picks one at random and prints it. */
const FIXED_SEED = 0x13c0ffee;
/** Quick runs stop after this long whatever the count left (≤ 2 s per parser in `npm test`). */
const QUICK_LIMIT_MS = 1500;

const seedEnv = process.env.CAIRN_FUZZ_SEED;
const longMs = Number(process.env.CAIRN_FUZZ_MS ?? 0);
export const FUZZ_SEED = seedEnv !== undefined && /^-?\d+$/.test(seedEnv) ? Number(seedEnv) : FIXED_SEED;
export const LONG_RUN = Number.isFinite(longMs) && longMs > 0;

/**
 * Calls `parse(input)` and checks the contract: it returns, or throws a CairnError, within
 * MAX_INPUT_MS. The failure message names what was thrown, so a finding reads at once.
 */
export async function parsesOrRefuses<T>(parse: (input: T) => unknown, input: T): Promise<void> {
  let ms = await timedParse(parse, input);
  // a pause of the machine (GC, two cores shared with other test runs) is not the parser's: a
  // slow parser is slow again on the same input, every time (three more tries: at load 10 two
  // slow tries in a row were seen on fast parsers)
  for (let again = 0; again < 3 && ms > MAX_INPUT_MS; again++) ms = Math.min(ms, await timedParse(parse, input));
  assert.ok(ms <= MAX_INPUT_MS, `took ${ms.toFixed(1)} ms, more than ${MAX_INPUT_MS} ms`);
}

async function timedParse<T>(parse: (input: T) => unknown, input: T): Promise<number> {
  const started = performance.now();
  try {
    await parse(input);
  } catch (e) {
    if (!isCairnError(e)) {
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      assert.fail(`threw ${what} instead of a CairnError`);
    }
  }
  return performance.now() - started;
}

/**
 * Runs `parse` on inputs from `inputs` under the contract, with the fixed seed (or the long run's
 * seed and time), and reports how many inputs it took as a test diagnostic (`fuzz NAME: N inputs`).
 * `runs`: the quick run's count, sized so the parser stays well under 2 s.
 */
export async function fuzzParser<T>(
  t: TestContext,
  name: string,
  inputs: fc.Arbitrary<T>,
  parse: (input: T) => unknown,
  runs = 2000,
): Promise<void> {
  const started = performance.now();
  const details = await fc.check(
    fc.asyncProperty(inputs, async (input) => parsesOrRefuses(parse, input)),
    {
      seed: FUZZ_SEED,
      numRuns: LONG_RUN ? Number.MAX_SAFE_INTEGER : runs,
      endOnFailure: LONG_RUN,
      plugins: [fc.interruptAfterTimeLimit(LONG_RUN ? longMs : QUICK_LIMIT_MS)],
    },
  );
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(`fuzz ${name}: ${details.numRuns} inputs in ${seconds.toFixed(1)} s (seed ${FUZZ_SEED})`);
  if (details.failed) {
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    assert.fail(`${name}: ${cause}\n${fc.defaultReportMessage(details)}`);
  }
}

/** Where a streaming parser's input is cut: fractions of its length (0 to 1). */
export const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

/** `input` (bytes or text) in pieces cut at `cuts`, as a stream would bring it. */
export function inPieces<T extends { length: number; slice(from: number, to: number): T }>(input: T, cuts: readonly number[]): T[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * input.length)))].sort((a, b) => a - b);
  const pieces: T[] = [];
  let from = 0;
  for (const to of [...at, input.length]) {
    pieces.push(input.slice(from, to));
    from = to;
  }
  return pieces;
}

/** Random bytes: mostly short, sometimes up to MAX_INPUT_BYTES. */
export function randomBytes(): fc.Arbitrary<Buffer> {
  return fc
    .oneof(
      { weight: 8, arbitrary: fc.uint8Array({ maxLength: 512 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: MAX_INPUT_BYTES }) },
    )
    .map((a) => Buffer.from(a));
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; count: number };

const position = fc.nat({ max: 0x7fffffff });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x5b, 0x2e) }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: position, count: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('repeat' as const), at: position, count: fc.integer({ min: 1, max: 64 }) }),
);

/** `bytes` changed by one mutation (positions wrap around its length). */
export function mutate(bytes: Buffer, m: Mutation): Buffer {
  const n = bytes.length;
  const at = n === 0 ? 0 : m.at % (n + (m.kind === 'insert' ? 1 : 0));
  switch (m.kind) {
    case 'flip':
    case 'set': {
      if (n === 0) return bytes;
      const out = Buffer.from(bytes);
      out[at] = m.kind === 'flip' ? out[at]! ^ (1 << m.bit) : m.value;
      return out;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)]);
    case 'truncate':
      return bytes.subarray(0, at);
    case 'repeat':
      return Buffer.concat([bytes.subarray(0, at + m.count), bytes.subarray(at)]).subarray(0, MAX_INPUT_BYTES);
  }
}

/** One of the valid encodings `valid`, with 1 to 8 mutations applied (structured-but-broken input). */
export function mutatedBytes(valid: readonly Buffer[]): fc.Arbitrary<Buffer> {
  assert.ok(valid.length > 0);
  return fc
    .tuple(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 8 }))
    .map(([bytes, ms]) => ms.reduce(mutate, bytes));
}

/** Random bytes, mutated valid encodings, and the valid encodings themselves. */
export function bytesInputs(valid: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 2, arbitrary: randomBytes() },
    { weight: 6, arbitrary: mutatedBytes(valid) },
    { weight: 1, arbitrary: fc.constantFrom(...valid) },
  );
}

/** The same as text (UTF-8 of the bytes; invalid sequences become U+FFFD), plus random strings. */
export function textInputs(valid: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: bytesInputs(valid.map((s) => Buffer.from(s))).map((b) => b.toString('utf8')) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  );
}

/** Any JSON value, and valid values with parts replaced, removed or added (for parsers of parsed JSON). */
export function jsonInputs(valid: readonly unknown[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...valid), fc.array(jsonEdit, { minLength: 1, maxLength: 4 })).map(([v, edits]) => edits.reduce((acc, e) => e(acc), structuredClone(v))) },
    { weight: 1, arbitrary: textInputs(valid.map((v) => JSON.stringify(v))).map(parseOrText) },
  );
}

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

type Edit = (v: unknown) => unknown;

const oddValues = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(null, -1, 0, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, 0.5, '', 'x'.repeat(5000), [], {}, true, '__proto__', 'constructor'),
);

/** Replaces, removes or adds one field somewhere in a JSON value (edits a copy in place). */
const jsonEdit: fc.Arbitrary<Edit> = fc
  .tuple(fc.nat(), fc.constantFrom('replace', 'remove', 'add'), fc.string({ maxLength: 12 }), oddValues)
  .map(([pick, how, key, shared]) => (v: unknown) => {
    const value = structuredClone(shared); // constants are shared between runs: never edit one in place
    const holders: (Record<string, unknown> | unknown[])[] = [];
    const walk = (x: unknown, depth: number) => {
      if (typeof x !== 'object' || x === null || depth > 6) return;
      holders.push(x as Record<string, unknown>);
      for (const child of Object.values(x)) walk(child, depth + 1);
    };
    walk(v, 0);
    if (holders.length === 0) return value;
    const holder = holders[pick % holders.length]!;
    if (Array.isArray(holder)) {
      const at = holder.length === 0 ? 0 : pick % holder.length;
      if (how === 'add' || holder.length === 0) holder.push(value);
      else if (how === 'remove') holder.splice(at, 1);
      else holder[at] = value;
      return v;
    }
    const keys = Object.keys(holder);
    const target = keys.length > 0 && how !== 'add' ? keys[pick % keys.length]! : key;
    // as JSON.parse makes them: an own field even when named __proto__
    if (how === 'remove') delete holder[target];
    else Object.defineProperty(holder, target, { value, writable: true, enumerable: true, configurable: true });
    return v;
  });

// A value each request schema accepts, made from the schema itself, so the REST fuzzer starts
// from a body every route takes and mutates it past the first checks.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { isCairnError } from '../../src/core/errors.ts';
import { checkBody, type Schema } from '../../src/protocol/api-schema.ts';

/** Strings that meet the patterns the route schemas use (names, paths, URLs, tokens, hex ids…). */
const CANDIDATES = [
  'a1',
  '/srv/data',
  'https://h.example:7443',
  randomBytes(32).toString('hex'),
  'cairn1.eyJ9',
  'ak1.eyJ9',
  '0 3 * * *',
  '1h',
  '2025-01-02T03:04:05Z',
  '127.0.0.1',
  'x',
];

function stringOf(schema: Extract<Schema, { type: 'string' }>): string {
  if (schema.enum) return schema.enum[0]!;
  const fits = (s: string) =>
    s.length >= (schema.minLength ?? 0) &&
    s.length <= (schema.maxLength ?? Infinity) &&
    (schema.pattern === undefined || new RegExp(schema.pattern, 'u').test(s));
  const found = CANDIDATES.find(fits);
  if (found !== undefined) return found;
  if (schema.pattern !== undefined) {
    try {
      const made = fc.sample(fc.stringMatching(new RegExp(schema.pattern, 'u')), { numRuns: 50, seed: 1 }).find(fits);
      if (made !== undefined) return made;
    } catch {
      // a pattern fast-check cannot generate from: the plain filler below
    }
  }
  return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
}

function numberOf(schema: Extract<Schema, { type: 'integer' | 'number' }>): number {
  return Math.min(Math.max(1, schema.minimum ?? 1), schema.maximum ?? Infinity);
}

/** A value `schema` accepts; undefined when none of the guesses does (the caller says so). */
export function validValueOf(schema: Schema): unknown {
  const value = guess(schema);
  try {
    checkBody(schema, value);
    return value;
  } catch (e) {
    if (isCairnError(e)) return undefined;
    throw e;
  }
}

function guess(schema: Schema): unknown {
  switch (schema.type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
    case 'number':
      return numberOf(schema);
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, () => guess(schema.items));
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(schema.properties)) o[k] = guess(s);
      if (schema.additionalProperties) o.key1 = guess(schema.additionalProperties);
      return o;
    }
  }
}

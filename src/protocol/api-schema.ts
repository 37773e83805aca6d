// The one place request bodies are checked: a small subset of JSON Schema (object, string,
// integer, number, boolean, array, enum, pattern, lengths, bounds, required, no extra fields)
// and `checkBody`, which turns the first failing field into one E_BAD_REQUEST sentence naming
// it. The same schemas are published in the OpenAPI document, so what the docs say is exactly
// what the server enforces.
import { CairnError } from '../core/errors.ts';

export type Schema =
  | { type: 'string'; pattern?: string; minLength?: number; maxLength?: number; enum?: readonly string[]; description?: string }
  | { type: 'integer' | 'number'; minimum?: number; maximum?: number; description?: string }
  | { type: 'boolean'; description?: string }
  | { type: 'array'; items: Schema; minItems?: number; maxItems?: number; description?: string }
  | {
      type: 'object';
      properties: Record<string, Schema>;
      required?: readonly string[];
      /** a map with free keys whose values follow this schema (properties must then be empty) */
      additionalProperties?: Schema | false;
      maxProperties?: number;
      description?: string;
    };

function fail(where: string, what: string): never {
  throw new CairnError('E_BAD_REQUEST', `${where || 'body'}: ${what}`);
}

function check(schema: Schema, v: unknown, where: string): void {
  switch (schema.type) {
    case 'string': {
      if (typeof v !== 'string') fail(where, 'must be a string');
      if (schema.minLength !== undefined && v.length < schema.minLength) fail(where, `must have at least ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && v.length > schema.maxLength) fail(where, `must have at most ${schema.maxLength} characters`);
      if (schema.enum && !schema.enum.includes(v)) fail(where, `must be one of ${schema.enum.join(', ')}`);
      // the description says the form in words when there is one; the bare pattern otherwise
      if (schema.pattern && !new RegExp(schema.pattern, 'u').test(v)) fail(where, `has the wrong form (${schema.description ?? schema.pattern})`);
      return;
    }
    case 'integer':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `must be a${schema.type === 'integer' ? 'n integer' : ' number'}`);
      if (schema.type === 'integer' && !Number.isSafeInteger(v)) fail(where, 'must be an integer');
      if (schema.minimum !== undefined && v < schema.minimum) fail(where, `must be at least ${schema.minimum}`);
      if (schema.maximum !== undefined && v > schema.maximum) fail(where, `must be at most ${schema.maximum}`);
      return;
    }
    case 'boolean':
      if (typeof v !== 'boolean') fail(where, 'must be true or false');
      return;
    case 'array': {
      if (!Array.isArray(v)) fail(where, 'must be an array');
      if (schema.minItems !== undefined && v.length < schema.minItems) fail(where, `must have at least ${schema.minItems} items`);
      if (schema.maxItems !== undefined && v.length > schema.maxItems) fail(where, `must have at most ${schema.maxItems} items`);
      v.forEach((item, i) => check(schema.items, item, `${where}[${i}]`));
      return;
    }
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'must be an object');
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties)
        fail(where, `must have at most ${schema.maxProperties} fields`);
      for (const name of schema.required ?? []) if (!Object.hasOwn(o, name)) fail(join(where, name), 'is required');
      for (const k of keys) {
        const field = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        if (field) check(field, o[k], join(where, k));
        else if (schema.additionalProperties) check(schema.additionalProperties, o[k], join(where, k));
        else fail(join(where, k.slice(0, 40)), 'is not a known field');
      }
      return;
    }
  }
}

function join(where: string, name: string): string {
  return where ? `${where}.${name}` : name;
}

/** `v` as T when it matches `schema`; otherwise E_BAD_REQUEST naming the first bad field. */
export function checkBody<T>(schema: Schema, v: unknown): T {
  check(schema, v, '');
  return v as T;
}

// Building blocks the route schemas share.
export const NAME_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$';
export const nameSchema: Schema = { type: 'string', pattern: NAME_PATTERN, description: '1-64 of [A-Za-z0-9._-]' };
// no '.' or '..' segment (a path cannot climb out of a restore root or a --to folder) and no NUL
export const absolutePathSchema: Schema = {
  type: 'string',
  pattern: '^(?![\\s\\S]*/\\.\\.?(?:/|$))/[^\\u0000]*$',
  minLength: 1,
  maxLength: 4096,
  description: "an absolute path without '.' or '..' segments or NUL",
};
export const LEVELS = ['full', 'differential', 'incremental'] as const;
export type Level = (typeof LEVELS)[number];
export const levelSchema: Schema = { type: 'string', enum: LEVELS };
export const CONFLICT_POLICIES = ['overwrite', 'skip', 'rename'] as const;
export type ConflictPolicy = (typeof CONFLICT_POLICIES)[number];

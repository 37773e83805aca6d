// The first check of every signed or tokenised payload: a plain object holding no field but
// the ones named. `fail` turns a reason into the caller's own error.

export function onlyFields(
  v: unknown,
  fields: readonly string[],
  fail: (reason: string) => Error,
): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('payload is not an object');
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => !fields.includes(k));
  if (extra !== undefined) throw fail(`unknown field ${JSON.stringify(extra).slice(0, 40)}`);
  return o;
}

// What an audit entry names as its target: the route's parameters and the request body's plain
// fields (names, paths, levels), never a secret. A field whose name is on the denylist is left out
// whatever its value, so a new secret field named like the old ones cannot leak by accident;
// nested objects and arrays are left out too (wrapped key copies, schedule lists).
const DENIED = /pass|secret|token|key|wrapped|csr|cert|credential|cookie|auth|signature/i;
/** A field's text is cut here: a target names things, it does not archive bodies. */
const MAX_VALUE = 300;

function shown(value: unknown): string | undefined {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') return undefined;
  // a URL's user information (https://user:password@host) is a credential
  const text = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
  return JSON.stringify(text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text);
}

/** Whether a field of that name may be written to the audit log. */
export function auditableField(name: string): boolean {
  return !DENIED.test(name);
}

/** `name="home" agent="a1"`: the params, then the body's safe plain fields; empty when none. */
export function auditTarget(params: Record<string, string>, body: unknown): string {
  const parts: string[] = [];
  const add = (k: string, v: unknown) => {
    const s = auditableField(k) ? shown(v) : undefined;
    if (s !== undefined) parts.push(`${k}=${s}`);
  };
  for (const [k, v] of Object.entries(params)) add(k, v);
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) for (const [k, v] of Object.entries(body)) add(k, v);
  return parts.join(' ');
}

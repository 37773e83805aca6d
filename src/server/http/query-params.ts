// Query parameters that are more than a string: a bounded count, and a name's exact bytes. A file
// name need not be UTF-8, and URLSearchParams decodes %-escapes as UTF-8 (an invalid byte becomes
// U+FFFD), so a parameter carrying a name is read as bytes from the raw query string instead.
import { CairnError } from '../../core/errors.ts';

/** `limit` (or another count) from 1 to `max`, `fallback` when absent; 400 naming the parameter otherwise. */
export function queryCount(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const text = query.get(name);
  if (text === null) return fallback;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new CairnError('E_BAD_REQUEST', `${name} must be an integer from 1 to ${max} (got ${text.slice(0, 40)})`);
  return n;
}

/**
 * The exact bytes of query parameter `name` in the raw URL `url` (form decoding: `+` is a space,
 * `%XX` one byte, any other character its UTF-8); undefined when absent. For a UTF-8 name this
 * is what URLSearchParams gives; for any other bytes it is them, unchanged.
 */
export function queryBytes(url: string, name: string): Buffer | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (key !== name) continue;
    return percentDecode(eq < 0 ? '' : pair.slice(eq + 1), name);
  }
  return undefined;
}

function percentDecode(text: string, name: string): Buffer {
  const out: Buffer[] = [];
  let plain = '';
  const flush = () => {
    if (plain !== '') out.push(Buffer.from(plain, 'utf8'));
    plain = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new CairnError('E_BAD_REQUEST', `${name}: malformed %-escape at character ${i + 1}`);
      flush();
      out.push(Buffer.from([parseInt(hex, 16)]));
      i += 2;
    } else plain += c === '+' ? ' ' : c;
  }
  flush();
  return Buffer.concat(out);
}

/** Bytes as a query parameter value: every byte but A-Z a-z 0-9 - . _ ~ as %XX (so the value is plain ASCII). */
export function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

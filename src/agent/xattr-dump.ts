// The text format of `getfattr -d -e base64` (and of `setfattr --restore`), which is how Cairn
// reads and writes extended attributes: Node has no xattr call, so Debian's `attr` tools do it,
// once per backup root and once per batch of restored entries instead of once per file.
//
//   # file: PATH
//   NAME=0sBASE64VALUE
//   (blank line)
//
// Paths and attribute names are escaped by the tools: control bytes, '\' and (in names) '=' as
// `\ooo` octal; other bytes, including non-UTF-8 ones, are printed raw. We read the output as
// latin1 so that one character is one byte, and unescape to the exact bytes.
import type { Xattr } from '../core/tree.ts';

const BACKSLASH = 0x5c;

/** `\ooo` octal escapes back to bytes; everything else is taken as is. */
export function unescapeDumpName(text: string): Buffer {
  const raw = Buffer.from(text, 'latin1');
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === BACKSLASH && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      out[n++] = Number.parseInt(text.slice(i + 1, i + 4), 8) & 0xff;
      i += 3;
    } else out[n++] = b;
  }
  return Buffer.from(out.subarray(0, n));
}

/** Escapes what the tools escape (and '=', so a name never splits at the wrong place). */
export function escapeDumpName(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f || b === BACKSLASH || b === 0x3d) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/** A value as getfattr prints it: `0s` base64, `0x` hex, or a double-quoted string. */
function decodeValue(text: string): Buffer {
  if (text.startsWith('0s') || text.startsWith('0S')) return Buffer.from(text.slice(2), 'base64');
  if (text.startsWith('0x') || text.startsWith('0X')) return Buffer.from(text.slice(2), 'hex');
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"'))
    return unescapeDumpName(text.slice(1, -1));
  return unescapeDumpName(text);
}

/**
 * Parses getfattr's dump, line by line (call `line` for each line without its '\n', read as
 * latin1), and hands over each file's attributes sorted by name bytes.
 */
export class XattrDumpParser {
  #path: Buffer | undefined;
  #attrs: Xattr[] = [];
  #onFile: (path: Buffer, attrs: Xattr[]) => void;

  constructor(onFile: (path: Buffer, attrs: Xattr[]) => void) {
    this.#onFile = onFile;
  }

  line(line: string): void {
    if (line.startsWith('# file: ')) {
      this.end();
      this.#path = unescapeDumpName(line.slice('# file: '.length));
      return;
    }
    if (line === '' || line.startsWith('#') || this.#path === undefined) return;
    const eq = line.indexOf('=');
    const name = unescapeDumpName(eq < 0 ? line : line.slice(0, eq));
    const value = eq < 0 ? Buffer.alloc(0) : decodeValue(line.slice(eq + 1));
    this.#attrs.push({ name, value });
  }

  /** Closes the file being read (call once more at the end of the output). */
  end(): void {
    if (this.#path !== undefined && this.#attrs.length > 0) {
      this.#attrs.sort((a, b) => Buffer.compare(a.name, b.name));
      this.#onFile(this.#path, this.#attrs);
    }
    this.#path = undefined;
    this.#attrs = [];
  }
}

/** Parses a whole dump (tests, small outputs). */
export function parseXattrDump(text: string): Map<string, Xattr[]> {
  const map = new Map<string, Xattr[]>();
  const parser = new XattrDumpParser((path, attrs) => map.set(path.toString('latin1'), attrs));
  for (const line of text.split('\n')) parser.line(line);
  parser.end();
  return map;
}

/** One file's section of a dump for `setfattr --restore`. */
export function formatXattrDump(path: Buffer, attrs: Xattr[]): string {
  let out = `# file: ${escapeDumpName(path)}\n`;
  // an empty value is the bare name: setfattr ignores `name=0s`
  for (const a of attrs)
    out += a.value.length ? `${escapeDumpName(a.name)}=0s${a.value.toString('base64')}\n` : `${escapeDumpName(a.name)}\n`;
  return `${out}\n`;
}

// Path safety for restore: every name the restorer writes is checked here as raw bytes (Buffers
// end to end, so non-UTF-8 names survive); a name that could climb out ('..', '/', NUL) is refused
// with E_UNSAFE_PATH. Paths joined here are for messages and bookkeeping: the writes themselves
// go through directories held open (dir-handles.ts), never through a path from the target down.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { CairnError } from '../../core/errors.ts';

const SLASH = 0x2f;
const DOT = 0x2e;

/** Names decodeTree accepts; checked again here because a wrong one here means writing outside the target. */
export function checkEntryName(name: Buffer): void {
  const bad =
    name.length === 0 ||
    name.includes(SLASH) ||
    name.includes(0) ||
    (name.length === 1 && name[0] === DOT) ||
    (name.length === 2 && name[0] === DOT && name[1] === DOT);
  if (bad)
    throw new CairnError(
      'E_UNSAFE_PATH',
      `refusing tree entry named ${JSON.stringify(name.toString('latin1'))}`,
    );
}

/** parent + '/' + name, as bytes. `parent` never ends with '/' except for the root '/'. */
export function childPath(parent: Buffer, name: Buffer): Buffer {
  checkEntryName(name);
  if (parent.length === 1 && parent[0] === SLASH) return Buffer.concat([parent, name]);
  return Buffer.concat([parent, Buffer.of(SLASH), name]);
}

/** The restore target as bytes, without a trailing slash ('/' itself stays '/'). */
export function targetRoot(target: string): Buffer {
  return Buffer.from(target.replace(/(.)\/+$/, '$1'));
}

/**
 * Splits a hard link's target (the first link's path relative to the snapshot root, a leading '/'
 * tolerated) into checked names; any '..', '.' or empty component is refused.
 */
export function hardlinkTargetNames(target: Buffer): Buffer[] {
  const names: Buffer[] = [];
  let start = 0;
  while (start < target.length && target[start] === SLASH) start++;
  if (start >= target.length) throw new CairnError('E_UNSAFE_PATH', 'hard link with an empty target');
  while (start <= target.length) {
    let end = target.indexOf(SLASH, start);
    if (end < 0) end = target.length;
    const name = target.subarray(start, end);
    checkEntryName(name);
    names.push(name);
    start = end + 1;
  }
  return names;
}

// A random prefix per process and a counter: unique without a random draw per file (O_EXCL and
// the rename still guard against a name that exists).
const TEMP_PREFIX = `.cairn-${randomBytes(6).toString('hex')}`;
let tempCounter = 0;

/** A fresh name for a temporary sibling: dot-prefixed, unique to this process. */
export function tempName(): Buffer {
  return Buffer.from(`${TEMP_PREFIX}${(tempCounter++).toString(16).padStart(6, '0')}.tmp`);
}

/** Shows a byte path to a person: UTF-8 where it decodes, with replacement characters otherwise. */
export function displayPath(p: Buffer): string {
  return p.toString('utf8');
}

/** Creates the target directory and its missing ancestors; the ancestors themselves are the user's. */
export function ensureTarget(root: Buffer): void {
  fs.mkdirSync(root, { recursive: true });
  const st = fs.statSync(root);
  if (!st.isDirectory())
    throw new CairnError('E_USAGE', `restore target ${displayPath(root)} is not a directory`);
}

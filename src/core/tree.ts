// Canonical tree encoding, one tree per directory (docs/architecture.md, "Trees").
// A tree is a JSON array of node objects, sorted by raw name bytes, each with its fields in one
// fixed order; names and link targets are base64 (raw bytes, non-UTF-8 survives), chunk ids hex,
// nanosecond times and inodes decimal strings (they exceed 2^53). Same entries → same bytes, so
// an unchanged directory dedups to the same tree chunks. Decoding trusts nothing: every field is
// type-checked, unknown fields are refused, and names that could escape a directory are refused.
// Extended attributes are an optional field, left out when there are none, so trees without
// them keep the bytes they had before the field existed.
import { CairnError } from './errors.ts';

export type NodeType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';

export type TreeNode = {
  name: Buffer; // raw bytes of the name
  type: NodeType;
  mode: number; // permission bits incl. setuid/setgid/sticky (st_mode & 0o7777)
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  size: number;
  inode: bigint;
  nlink: number;
  rdev?: number; // chardev/blockdev
  chunks?: Buffer[]; // file: chunk ids in order
  subtree?: Buffer[]; // dir: chunk ids of the encoded subtree
  target?: Buffer; // symlink: target bytes; hardlink: path of the first link, relative to the snapshot root
  xattrs?: Xattr[]; // extended attributes, sorted by name bytes; absent when there are none
};

/** One extended attribute: its full name with namespace (`user.x`) and its value, as bytes. */
export type Xattr = { name: Buffer; value: Buffer };

/** Bound on one node's attributes (names + values), Linux's own limit for a single value. */
export const MAX_XATTR_BYTES = 64 * 1024;

const NODE_TYPES: ReadonlySet<string> = new Set([
  'file',
  'dir',
  'symlink',
  'hardlink',
  'fifo',
  'chardev',
  'blockdev',
  'socket',
]);
const FIELDS: ReadonlySet<string> = new Set([
  'name',
  'type',
  'mode',
  'uid',
  'gid',
  'mtimeNs',
  'ctimeNs',
  'size',
  'inode',
  'nlink',
  'rdev',
  'chunks',
  'subtree',
  'target',
  'xattrs',
]);
const MAX_UID = 0xffffffff;
const SLASH = 0x2f;
const DOT = 0x2e;

/** E_UNSAFE_PATH unless `name` is one plain path component: not '', '.', '..', no '/' or NUL. */
export function checkNodeName(name: Uint8Array): void {
  const unsafe =
    name.length === 0 ||
    (name[0] === DOT && (name.length === 1 || (name.length === 2 && name[1] === DOT))) ||
    name.includes(SLASH) ||
    name.includes(0);
  if (unsafe)
    throw new CairnError('E_UNSAFE_PATH', `unsafe name in tree: ${JSON.stringify(name.toString())}`);
}

function compareNames(a: TreeNode, b: TreeNode): number {
  return Buffer.compare(a.name, b.name);
}

/** Canonical bytes: entries sorted by name bytes; same entries → same bytes. */
export function encodeTree(nodes: TreeNode[]): Buffer {
  const sorted = [...nodes].sort(compareNames);
  const out: object[] = new Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    const n = sorted[i]!;
    checkNodeName(n.name);
    if (i > 0 && sorted[i - 1]!.name.equals(n.name))
      throw new CairnError('E_UNSAFE_PATH', `duplicate name in tree: ${JSON.stringify(n.name.toString())}`);
    // Built in one fixed key order: JSON.stringify keeps insertion order.
    const o: Record<string, unknown> = {
      name: n.name.toString('base64'),
      type: n.type,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      mtimeNs: n.mtimeNs.toString(),
      ctimeNs: n.ctimeNs.toString(),
      size: n.size,
      inode: n.inode.toString(),
      nlink: n.nlink,
    };
    if (n.rdev !== undefined) o.rdev = n.rdev;
    if (n.chunks !== undefined || n.type === 'file')
      o.chunks = (n.chunks ?? []).map((id) => id.toString('hex'));
    if (n.subtree !== undefined || n.type === 'dir')
      o.subtree = (n.subtree ?? []).map((id) => id.toString('hex'));
    if (n.target !== undefined) o.target = n.target.toString('base64');
    if (n.xattrs !== undefined && n.xattrs.length > 0) o.xattrs = encodeXattrs(n.xattrs);
    out[i] = o;
  }
  return Buffer.from(JSON.stringify(out));
}

/** Sorted [name, value] pairs in base64; refuses what decoding would refuse. */
function encodeXattrs(attrs: Xattr[]): string[][] {
  const sorted = [...attrs].sort((a, b) => Buffer.compare(a.name, b.name));
  const problem = xattrsProblem(sorted);
  if (problem) throw new CairnError(problem.tooLarge ? 'E_TOO_LARGE' : 'E_CORRUPT', `extended attributes: ${problem.what}`);
  return sorted.map((a) => [a.name.toString('base64'), a.value.toString('base64')]);
}

/** Names non-empty without NUL, strictly sorted (no repeats), names + values ≤ MAX_XATTR_BYTES. */
function xattrsProblem(attrs: Xattr[]): { what: string; tooLarge: boolean } | undefined {
  let total = 0;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.name.length === 0 || a.name.includes(0)) return { what: 'bad attribute name', tooLarge: false };
    if (i > 0 && Buffer.compare(attrs[i - 1]!.name, a.name) >= 0)
      return { what: 'attributes not sorted or repeated', tooLarge: false };
    total += a.name.length + a.value.length;
  }
  if (total > MAX_XATTR_BYTES) return { what: `more than ${MAX_XATTR_BYTES} bytes`, tooLarge: true };
  return undefined;
}

/** Total bytes of names and values, as bounded by MAX_XATTR_BYTES. */
export function xattrBytes(attrs: Xattr[]): number {
  let total = 0;
  for (const a of attrs) total += a.name.length + a.value.length;
  return total;
}

// --- decoding ---

function corrupt(what: string): CairnError {
  return new CairnError('E_CORRUPT', `tree is corrupt: ${what}`);
}

function uint(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw corrupt(`bad ${field}`);
  return v;
}

const DECIMAL = /^(0|-?[1-9][0-9]{0,30})$/;
function bigDecimal(v: unknown, field: string, signed: boolean): bigint {
  if (typeof v !== 'string' || !DECIMAL.test(v) || (!signed && v.startsWith('-')))
    throw corrupt(`bad ${field}`);
  return BigInt(v);
}

function base64Bytes(v: unknown, field: string): Buffer {
  if (typeof v !== 'string') throw corrupt(`bad ${field}`);
  const bytes = Buffer.from(v, 'base64');
  if (bytes.toString('base64') !== v) throw corrupt(`${field} is not canonical base64`);
  return bytes;
}

const HEX_ID = /^[0-9a-f]{64}$/;
function idList(v: unknown, field: string): Buffer[] {
  if (!Array.isArray(v)) throw corrupt(`bad ${field}`);
  const ids: Buffer[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const s = v[i];
    if (typeof s !== 'string' || !HEX_ID.test(s)) throw corrupt(`bad chunk id in ${field}`);
    ids[i] = Buffer.from(s, 'hex');
  }
  return ids;
}

function decodeXattrs(v: unknown): Xattr[] {
  // empty lists are never written: accepting them would give one node two encodings
  if (!Array.isArray(v) || v.length === 0) throw corrupt('bad xattrs');
  const attrs: Xattr[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const pair = v[i];
    if (!Array.isArray(pair) || pair.length !== 2) throw corrupt('bad xattr');
    attrs[i] = { name: base64Bytes(pair[0], 'xattr name'), value: base64Bytes(pair[1], 'xattr value') };
  }
  const problem = xattrsProblem(attrs);
  if (problem) throw corrupt(`xattrs: ${problem.what}`);
  return attrs;
}

function decodeNode(v: unknown): TreeNode {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt('entry is not an object');
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!FIELDS.has(key)) throw corrupt(`unknown field ${JSON.stringify(key)}`);
  const name = base64Bytes(o.name, 'name');
  checkNodeName(name);
  if (typeof o.type !== 'string' || !NODE_TYPES.has(o.type)) throw corrupt('bad type');
  const node: TreeNode = {
    name,
    type: o.type as NodeType,
    mode: uint(o.mode, 'mode', 0o7777),
    uid: uint(o.uid, 'uid', MAX_UID),
    gid: uint(o.gid, 'gid', MAX_UID),
    mtimeNs: bigDecimal(o.mtimeNs, 'mtimeNs', true),
    ctimeNs: bigDecimal(o.ctimeNs, 'ctimeNs', true),
    size: uint(o.size, 'size', Number.MAX_SAFE_INTEGER),
    inode: bigDecimal(o.inode, 'inode', false),
    nlink: uint(o.nlink, 'nlink', MAX_UID),
  };
  if (o.rdev !== undefined) node.rdev = uint(o.rdev, 'rdev', Number.MAX_SAFE_INTEGER);
  if (o.chunks !== undefined) node.chunks = idList(o.chunks, 'chunks');
  if (o.subtree !== undefined) node.subtree = idList(o.subtree, 'subtree');
  if (o.target !== undefined) node.target = base64Bytes(o.target, 'target');
  if (o.xattrs !== undefined) node.xattrs = decodeXattrs(o.xattrs);
  if (node.type === 'file' && !node.chunks) throw corrupt('file without chunks');
  if (node.type === 'dir' && !node.subtree) throw corrupt('directory without subtree');
  if ((node.type === 'symlink' || node.type === 'hardlink') && !node.target)
    throw corrupt(`${node.type} without target`);
  return node;
}

/** Decodes and validates (E_CORRUPT on malformed input, E_UNSAFE_PATH on '', '.', '..', '/' or NUL in a name). */
export function decodeTree(bytes: Uint8Array): TreeNode[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (e) {
    throw new CairnError('E_CORRUPT', 'tree is corrupt: not valid JSON', { cause: e });
  }
  if (!Array.isArray(parsed)) throw corrupt('not an array');
  const nodes: TreeNode[] = new Array(parsed.length);
  for (let i = 0; i < parsed.length; i++) {
    const node = decodeNode(parsed[i]);
    if (i > 0) {
      const order = Buffer.compare(nodes[i - 1]!.name, node.name);
      if (order === 0)
        throw new CairnError(
          'E_UNSAFE_PATH',
          `duplicate name in tree: ${JSON.stringify(node.name.toString())}`,
        );
      if (order > 0) throw corrupt('entries are not sorted by name');
    }
    nodes[i] = node;
  }
  return nodes;
}

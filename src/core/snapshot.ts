// The snapshot record and its clear list of referenced chunk ids (docs/architecture.md,
// "Snapshots"). The record is canonical JSON (fixed key order), sealed by the caller as a blob of
// type 2; decoding validates every field of what came back. The refs list is sorted, unique,
// concatenated 32-byte ids: the storage server reads it without keys to collect garbage.
import { randomBytes } from 'node:crypto';
import { CairnError } from './errors.ts';

export type SnapshotRecord = {
  version: 1;
  id: string; // 64 hex
  time: string; // ISO 8601 UTC
  host: string;
  paths: string[]; // absolute paths backed up
  tree: string[]; // hex chunk ids of the root tree (which stands for '/')
  parent?: string;
  summary: {
    files: number;
    dirs: number;
    bytes: number;
    filesChanged: number;
    bytesRead: number;
    bytesNew: number;
  };
};

const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const SUMMARY_KEYS = ['files', 'dirs', 'bytes', 'filesChanged', 'bytesRead', 'bytesNew'] as const;
const RECORD_KEYS: ReadonlySet<string> = new Set([
  'version',
  'id',
  'time',
  'host',
  'paths',
  'tree',
  'parent',
  'summary',
]);
const MAX_TEXT = 4096;

export function newSnapshotId(): string {
  return randomBytes(32).toString('hex');
}

/** Canonical JSON bytes: keys in one fixed order. */
export function encodeSnapshot(rec: SnapshotRecord): Buffer {
  const summary: Record<string, number> = {};
  for (const k of SUMMARY_KEYS) summary[k] = rec.summary[k];
  const out: Record<string, unknown> = {
    version: rec.version,
    id: rec.id,
    time: rec.time,
    host: rec.host,
    paths: rec.paths,
    tree: rec.tree,
  };
  if (rec.parent !== undefined) out.parent = rec.parent;
  out.summary = summary;
  return Buffer.from(JSON.stringify(out));
}

function corrupt(what: string): CairnError {
  return new CairnError('E_CORRUPT', `snapshot record is corrupt: ${what}`);
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length > MAX_TEXT || v.includes('\0')) throw corrupt(`bad ${field}`);
  return v;
}

function hex64(v: unknown, field: string): string {
  if (typeof v !== 'string' || !HEX64.test(v)) throw corrupt(`bad ${field}`);
  return v;
}

/** Validates (E_CORRUPT otherwise). */
export function decodeSnapshot(bytes: Uint8Array): SnapshotRecord {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (e) {
    throw new CairnError('E_CORRUPT', 'snapshot record is corrupt: not valid JSON', { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt('not an object');
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!RECORD_KEYS.has(key)) throw corrupt(`unknown field ${JSON.stringify(key)}`);
  if (o.version !== 1) throw corrupt('unknown version');
  const time = text(o.time, 'time');
  if (!ISO_UTC.test(time) || Number.isNaN(Date.parse(time))) throw corrupt('bad time');
  if (!Array.isArray(o.paths)) throw corrupt('bad paths');
  const paths = o.paths.map((p) => {
    const path = text(p, 'path');
    if (!path.startsWith('/')) throw corrupt('backed-up path is not absolute');
    return path;
  });
  if (!Array.isArray(o.tree)) throw corrupt('bad tree');
  const tree = o.tree.map((id) => hex64(id, 'tree chunk id'));
  const s = o.summary;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw corrupt('bad summary');
  const sum = s as Record<string, unknown>;
  const summary = {} as SnapshotRecord['summary'];
  for (const k of SUMMARY_KEYS) {
    const n = sum[k];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw corrupt(`bad summary.${k}`);
    summary[k] = n;
  }
  if (Object.keys(sum).length !== SUMMARY_KEYS.length) throw corrupt('unknown field in summary');
  const rec: SnapshotRecord = {
    version: 1,
    id: hex64(o.id, 'id'),
    time,
    host: text(o.host, 'host'),
    paths,
    tree,
    summary,
  };
  if (o.parent !== undefined) rec.parent = hex64(o.parent, 'parent');
  return rec;
}

/** Refs: sorted unique 32-byte ids, concatenated. */
export function encodeRefs(ids: Iterable<Uint8Array>): Buffer {
  const all: Buffer[] = [];
  for (const id of ids) {
    if (id.length !== 32) throw new CairnError('E_INTERNAL', 'chunk id must be 32 bytes');
    all.push(Buffer.isBuffer(id) ? id : Buffer.from(id));
  }
  all.sort(Buffer.compare);
  const out = Buffer.allocUnsafe(all.length * 32);
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    if (i > 0 && all[i]!.equals(all[i - 1]!)) continue;
    all[i]!.copy(out, count * 32);
    count++;
  }
  return out.subarray(0, count * 32);
}

/** Decodes a refs list; E_CORRUPT unless it is whole 32-byte ids in strictly increasing order. */
export function decodeRefs(bytes: Uint8Array): Buffer[] {
  if (bytes.length % 32 !== 0) throw new CairnError('E_CORRUPT', 'refs list length is not a multiple of 32');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ids: Buffer[] = new Array(bytes.length / 32);
  for (let i = 0; i < ids.length; i++) {
    const id = buf.subarray(i * 32, i * 32 + 32);
    if (i > 0 && Buffer.compare(ids[i - 1]!, id) >= 0)
      throw new CairnError('E_CORRUPT', 'refs list is not sorted and unique');
    ids[i] = id;
  }
  return ids;
}

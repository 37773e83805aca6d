// The storage data plane as both sides see it: routes, limits, binary framings and JSON body
// shapes, with the runtime validation of every field in one place. The server validates every
// request here; the client builds its paths and parses answers here.
import { type ChunkerParams, checkChunkerParams } from '../core/chunker.ts';
import { CairnError } from '../core/errors.ts';
import { type KeyFile, parseKeyFile } from '../core/keys.ts';
import { MAX_PACK_SIZE } from '../core/pack.ts';
import { testDuration } from '../core/test-settings.ts';

export const ID_SIZE = 32;

/** A data-plane request (the agent's client and the storage server alike) with no byte either way for this long fails (CAIRN_TEST_DATA_IDLE_MS in tests). */
export function dataIdleMs(): number {
  return testDuration('DATA_IDLE', 60_000);
}

/** How an idle timeout of `ms` reads in messages: seconds, or milliseconds below one. */
export function idleText(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

export const LIMITS = {
  /** PUT …/packs/:name and POST …/packs body */
  packBytes: MAX_PACK_SIZE,
  /** POST …/missing: ids per request */
  missingIds: 65_536,
  /** POST …/locate: ids per request */
  locateIds: 65_536,
  /** POST …/blobs: ids per request */
  blobIds: 4_096,
  /** any JSON body */
  jsonBytes: 1024 * 1024,
  /** sealed snapshot record inside PUT …/snapshots/:id */
  snapshotRecordBytes: 1024 * 1024,
} as const;

/** `nettest`: the discard and ping routes of `net test`, which touch no vault */
export type Op = 'read' | 'write' | 'admin' | 'nettest';

export type RouteName =
  | 'createVault'
  | 'getVault'
  | 'missing'
  | 'putPack'
  | 'postPack'
  | 'getPack'
  | 'getBlobs'
  | 'locate'
  | 'putSnapshot'
  | 'listSnapshots'
  | 'getSnapshot'
  | 'getSnapshotRefs'
  | 'scrub'
  | 'netDiscard'
  | 'netPing';

export type RouteMatch = { route: RouteName; op: Op; vault?: string; name?: string };

const VAULT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function isVaultName(s: string): boolean {
  return VAULT_NAME.test(s);
}

export function checkVaultName(s: unknown): string {
  if (typeof s !== 'string' || !VAULT_NAME.test(s))
    throw new CairnError('E_BAD_REQUEST', `bad vault name ${JSON.stringify(s)}: want 1-64 of [a-zA-Z0-9._-], not starting with . _ -`);
  return s;
}

/** Pack names and snapshot ids: 64 lowercase hex digits. */
export function checkHex64(s: unknown, what: string): string {
  if (typeof s !== 'string' || !HEX64.test(s)) throw new CairnError('E_BAD_REQUEST', `bad ${what}: want 64 lowercase hex digits`);
  return s;
}

// [method, path pattern, route, op]; ':v' is a vault name, ':n' a 64-hex name or id.
const ROUTES: [string, string[], RouteName, Op][] = [
  ['POST', ['vaults'], 'createVault', 'admin'],
  ['GET', ['vaults', ':v'], 'getVault', 'read'],
  ['POST', ['vaults', ':v', 'missing'], 'missing', 'read'],
  ['PUT', ['vaults', ':v', 'packs', ':n'], 'putPack', 'write'],
  // the storage server names the pack (SHA-256 of its bytes), so the agent need not hash it
  ['POST', ['vaults', ':v', 'packs'], 'postPack', 'write'],
  ['GET', ['vaults', ':v', 'packs', ':n'], 'getPack', 'read'],
  ['POST', ['vaults', ':v', 'blobs'], 'getBlobs', 'read'],
  ['POST', ['vaults', ':v', 'locate'], 'locate', 'read'],
  ['PUT', ['vaults', ':v', 'snapshots', ':n'], 'putSnapshot', 'write'],
  ['GET', ['vaults', ':v', 'snapshots'], 'listSnapshots', 'read'],
  ['GET', ['vaults', ':v', 'snapshots', ':n'], 'getSnapshot', 'read'],
  ['GET', ['vaults', ':v', 'snapshots', ':n', 'refs'], 'getSnapshotRefs', 'read'],
  ['POST', ['vaults', ':v', 'scrub'], 'scrub', 'admin'],
  ['PUT', ['nettest'], 'netDiscard', 'nettest'],
  ['GET', ['nettest'], 'netPing', 'nettest'],
];

/**
 * Finds the route for a request line. Unknown paths are E_NOT_FOUND, a known path with another
 * method E_BAD_REQUEST, a malformed vault name or hex name E_BAD_REQUEST.
 */
export function matchRoute(method: string, url: string): RouteMatch {
  const path = url.split('?')[0]!;
  const parts = path.split('/');
  if (parts[0] !== '' || parts[1] !== 'v1') throw new CairnError('E_NOT_FOUND', `no such route: ${method} ${path}`);
  const segs = parts.slice(2);
  let pathMatched = false;
  for (const [m, pattern, route, op] of ROUTES) {
    if (pattern.length !== segs.length) continue;
    if (!pattern.every((p, i) => p.startsWith(':') || p === segs[i])) continue;
    pathMatched = true;
    if (m !== method) continue;
    const match: RouteMatch = { route, op };
    pattern.forEach((p, i) => {
      const seg = decodeSegment(segs[i]!);
      if (p === ':v') match.vault = checkVaultName(seg);
      if (p === ':n') match.name = checkHex64(seg, route.includes('Pack') ? 'pack name' : 'snapshot id');
    });
    return match;
  }
  if (pathMatched) throw new CairnError('E_BAD_REQUEST', `method ${method} not allowed on ${path}`);
  throw new CairnError('E_NOT_FOUND', `no such route: ${method} ${path}`);
}

/** A path segment's text; a malformed %-escape is the client's mistake (400), not a server error. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new CairnError('E_BAD_REQUEST', `malformed %-escape in the path segment ${JSON.stringify(segment.slice(0, 80))}`);
  }
}

/** The answer to a pack upload, `{pack, stored}`, or undefined when it is not one. */
export function parsePackAnswer(text: string): { name: string; stored: boolean } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(v) || typeof v.pack !== 'string' || !HEX64.test(v.pack) || typeof v.stored !== 'boolean') return undefined;
  return { name: v.pack, stored: v.stored };
}

/** Paths the client requests (names are validated so a bad one never leaves the agent). */
export const paths = {
  vaults: () => '/v1/vaults',
  vault: (v: string) => `/v1/vaults/${checkVaultName(v)}`,
  missing: (v: string) => `${paths.vault(v)}/missing`,
  pack: (v: string, name: string) => `${paths.vault(v)}/packs/${checkHex64(name, 'pack name')}`,
  packs: (v: string) => `${paths.vault(v)}/packs`,
  blobs: (v: string) => `${paths.vault(v)}/blobs`,
  locate: (v: string) => `${paths.vault(v)}/locate`,
  snapshots: (v: string) => `${paths.vault(v)}/snapshots`,
  snapshot: (v: string, id: string) => `${paths.vault(v)}/snapshots/${checkHex64(id, 'snapshot id')}`,
  snapshotRefs: (v: string, id: string) => `${paths.snapshot(v, id)}/refs`,
  scrub: (v: string) => `${paths.vault(v)}/scrub`,
  nettest: () => '/v1/nettest',
};

// ---- JSON bodies ----

export type VaultConfig = { version: 1; chunker: ChunkerParams; keyFile: KeyFile };
export type CreateVaultRequest = { vault: string; config: VaultConfig };
/** A pack scrub found damaged and why (a file name, or an indexed name whose file is gone). */
export type DamagedPack = { pack: string; reason: string };
/**
 * `bad` names each damaged pack once (older consoles print it); `damaged` says why, one entry per
 * finding. Both list at most MAX_LISTED_DAMAGE (an answer must fit one control message, even for a
 * vault that lost a whole prefix directory); `damagedTotal` counts every finding.
 */
export type ScrubReport = { packs: number; bytes: number; bad: string[]; damaged: DamagedPack[]; damagedTotal: number };

export const MAX_LISTED_DAMAGE = 1000;
export type SnapshotAnswer = { record: string /* base64 sealed record */ };
export type ErrorBody = { error: { code: string; message: string } };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new CairnError('E_BAD_REQUEST', `${what}: unexpected field ${k}`);
}

export function parseVaultConfig(v: unknown): VaultConfig {
  if (!isObject(v)) throw new CairnError('E_BAD_REQUEST', 'vault config: want an object');
  onlyKeys(v, ['version', 'chunker', 'keyFile'], 'vault config');
  if (v.version !== 1) throw new CairnError('E_BAD_REQUEST', `vault config: unsupported version ${JSON.stringify(v.version)}`);
  return { version: 1, chunker: checkChunkerParams(v.chunker), keyFile: parseKeyFile(v.keyFile) };
}

export function parseCreateVaultRequest(v: unknown): CreateVaultRequest {
  if (!isObject(v)) throw new CairnError('E_BAD_REQUEST', 'create vault: want an object {vault, config}');
  onlyKeys(v, ['vault', 'config'], 'create vault');
  return { vault: checkVaultName(v.vault), config: parseVaultConfig(v.config) };
}

export function parseScrubReport(v: unknown): ScrubReport {
  const bad = (why: string) => new CairnError('E_CORRUPT', `storage server sent a malformed scrub report: ${why}`);
  if (!isObject(v) || !Number.isSafeInteger(v.packs) || !Number.isSafeInteger(v.bytes)) throw bad('want {packs, bytes, …}');
  if (!Array.isArray(v.bad) || !v.bad.every((b) => typeof b === 'string')) throw bad('bad must be pack names');
  // a storage server from before `damaged` gives names only
  const damagedIn = v.damaged ?? (v.bad as string[]).map((pack) => ({ pack, reason: 'damaged (this storage server does not say why)' }));
  if (!Array.isArray(damagedIn) || !damagedIn.every((d) => isObject(d) && typeof d.pack === 'string' && typeof d.reason === 'string'))
    throw bad('damaged must be [{pack, reason}]');
  const damaged = (damagedIn as Record<string, unknown>[]).map((d) => ({ pack: d.pack as string, reason: d.reason as string }));
  const total = v.damagedTotal ?? damaged.length;
  if (!Number.isSafeInteger(total) || (total as number) < damaged.length) throw bad('damagedTotal must count at least the listed damage');
  return { packs: v.packs as number, bytes: v.bytes as number, bad: v.bad as string[], damaged, damagedTotal: total as number };
}

export function parseSnapshotList(v: unknown): string[] {
  if (!Array.isArray(v)) throw new CairnError('E_BAD_REQUEST', 'snapshot list: want an array');
  return v.map((id) => checkHex64(id, 'snapshot id'));
}

export function parseSnapshotAnswer(v: unknown): Buffer {
  if (!isObject(v) || typeof v.record !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v.record))
    throw new CairnError('E_BAD_REQUEST', 'snapshot: want {record: base64}');
  return Buffer.from(v.record, 'base64');
}

export function parseErrorBody(v: unknown): { code: string; message: string } | undefined {
  if (!isObject(v) || !isObject(v.error)) return undefined;
  const { code, message } = v.error;
  return typeof code === 'string' && typeof message === 'string' ? { code, message } : undefined;
}

// ---- binary bodies ----

/** Splits a body of concatenated 32-byte ids, checking its size and count. */
export function splitIds(body: Buffer, max: number, what: string): Buffer[] {
  if (body.length % ID_SIZE !== 0) throw new CairnError('E_BAD_REQUEST', `${what}: body is not a whole number of 32-byte ids`);
  const count = body.length / ID_SIZE;
  if (count > max) throw new CairnError('E_TOO_LARGE', `${what}: ${count} ids, at most ${max} per request`);
  const ids: Buffer[] = [];
  for (let at = 0; at < body.length; at += ID_SIZE) ids.push(body.subarray(at, at + ID_SIZE));
  return ids;
}

/** Each blob in a `blobs` answer: id[32] length u32be sealed[length]. */
export const BLOB_FRAME_HEADER = ID_SIZE + 4;

export function blobFrameHeader(id: Uint8Array, length: number): Buffer {
  const h = Buffer.allocUnsafe(BLOB_FRAME_HEADER);
  h.set(id, 0);
  h.writeUInt32BE(length, ID_SIZE);
  return h;
}

/** Where a chunk lies: `length` sealed bytes at `offset` of pack `pack` (64 hex digits). */
export type ChunkPlace = { pack: string; offset: number; length: number };

/**
 * The order a `blobs` answer comes in, and so the order a restore's reads are planned in: by
 * pack name, then by offset inside the pack.
 */
export function byPackOrder(a: { pack: string; offset: number }, b: { pack: string; offset: number }): number {
  return a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : a.offset - b.offset;
}

const ABSENT = 0xffffffff;
const LOCATE_RECORD = 12;

/**
 * A `locate` answer: packCount u32be ‖ packCount × 32-byte pack names ‖ for each id asked, in
 * order: pack u32be (index into the names; 0xffffffff = the vault cannot serve it) ‖ offset u32be
 * ‖ length u32be. Packs are ≤ 64 MiB, so 32 bits hold every offset.
 */
export function encodeLocateAnswer(places: readonly (ChunkPlace | undefined)[]): Buffer {
  const packIndex = new Map<string, number>();
  for (const p of places) if (p && !packIndex.has(p.pack)) packIndex.set(p.pack, packIndex.size);
  const out = Buffer.allocUnsafe(4 + packIndex.size * ID_SIZE + places.length * LOCATE_RECORD);
  out.writeUInt32BE(packIndex.size, 0);
  let at = 4;
  for (const pack of packIndex.keys()) at += out.write(pack, at, 'hex');
  for (const p of places) {
    out.writeUInt32BE(p ? packIndex.get(p.pack)! : ABSENT, at);
    out.writeUInt32BE(p ? p.offset : 0, at + 4);
    out.writeUInt32BE(p ? p.length : 0, at + 8);
    at += LOCATE_RECORD;
  }
  return out;
}

/** Parses a `locate` answer for `count` ids; E_CORRUPT when it is not one. */
export function decodeLocateAnswer(body: Buffer, count: number): (ChunkPlace | undefined)[] {
  const bad = (why: string) => new CairnError('E_CORRUPT', `storage server sent a malformed locate answer: ${why}`);
  if (body.length < 4) throw bad('too short');
  const packs = body.readUInt32BE(0);
  const recordsAt = 4 + packs * ID_SIZE;
  if (body.length !== recordsAt + count * LOCATE_RECORD) throw bad(`${body.length} bytes for ${packs} packs and ${count} ids`);
  const names: string[] = [];
  for (let i = 0; i < packs; i++) names.push(body.toString('hex', 4 + i * ID_SIZE, 4 + (i + 1) * ID_SIZE));
  const out: (ChunkPlace | undefined)[] = [];
  for (let at = recordsAt; at < body.length; at += LOCATE_RECORD) {
    const index = body.readUInt32BE(at);
    if (index === ABSENT) {
      out.push(undefined);
      continue;
    }
    const pack = names[index];
    if (pack === undefined) throw bad(`pack ${index} of ${packs}`);
    out.push({ pack, offset: body.readUInt32BE(at + 4), length: body.readUInt32BE(at + 8) });
  }
  return out;
}

/** A snapshot upload: recordLength u32be || sealed record || refs (sorted unique 32-byte ids). */
export const SNAPSHOT_HEADER = 4;

export function snapshotUploadHeader(recordLength: number): Buffer {
  if (recordLength === 0 || recordLength > LIMITS.snapshotRecordBytes)
    throw new CairnError('E_TOO_LARGE', `snapshot record of ${recordLength} bytes (1 to ${LIMITS.snapshotRecordBytes})`);
  const h = Buffer.allocUnsafe(SNAPSHOT_HEADER);
  h.writeUInt32BE(recordLength, 0);
  return h;
}

/** Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against a size: inclusive [start, end], or undefined when unsatisfiable. */
export function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new CairnError('E_BAD_REQUEST', `unsupported Range: ${header}`);
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
    if (n === 0) return undefined;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return undefined;
  return { start, end };
}

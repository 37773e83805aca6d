// Finding files by name across a job's snapshots, from the catalog's file index: a shell glob on
// the base name, newest snapshot first, at most `limit` matches. Each snapshot is one range of the
// files table's primary key (its rows only), read until enough matched, so the cost is bounded by
// the snapshots read, never the whole catalog. SQLite's GLOB speaks the same `*`, `?` and `[...]`
// (negated with `^` where shells write `!`) on the name's bytes; the glob's longest literal run is
// looked for first with instr(), which rules out most names for less than GLOB costs.
import { CairnError } from '../core/errors.ts';
import type { FindAnswerJson, FindMatchJson } from '../protocol/api-types.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { iso, num } from './context.ts';
import { ownedJob } from './jobs.ts';
import { bytesFields } from './snapshot-browse.ts';

/** Matches of one answer unless asked for fewer, and the most one holds. */
export const FIND_LIMIT = 1000;
const MAX_GLOB = 1024;

export type SqliteGlob = {
  pattern: string;
  /** the glob's longest run of literal characters: a name without it cannot match, and instr() says so cheaper than GLOB */
  literal: string;
};

/** A shell glob for SQLite's GLOB: `[!…]` becomes `[^…]`; a `/`, an unclosed `[` or an empty one is the caller's mistake. */
export function sqliteGlob(glob: string): SqliteGlob {
  if (glob === '' || glob.length > MAX_GLOB) throw new CairnError('E_BAD_REQUEST', `name must be a glob of 1 to ${MAX_GLOB} characters`);
  if (glob.includes('/')) throw new CairnError('E_BAD_REQUEST', `name is matched against base names and cannot hold a /: ${glob.slice(0, 80)}`);
  if (glob.includes('\0')) throw new CairnError('E_BAD_REQUEST', 'name cannot hold a NUL character');
  let out = '';
  let literal = '';
  let run = '';
  const endRun = () => {
    if (run.length > literal.length) literal = run;
    run = '';
  };
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] !== '[') {
      out += glob[i];
      if (glob[i] === '*' || glob[i] === '?') endRun();
      else run += glob[i];
      continue;
    }
    endRun();
    let j = i + 1;
    let set = '[';
    if (glob[j] === '!' || glob[j] === '^') {
      set += '^';
      j++;
    }
    // a ] right after [ or [! is a member, as in shells
    if (glob[j] === ']') set += glob[j++];
    while (j < glob.length && glob[j] !== ']') set += glob[j++];
    if (j >= glob.length) throw new CairnError('E_BAD_REQUEST', `name: the [ at character ${i + 1} is never closed: ${glob.slice(0, 80)}`);
    out += `${set}]`;
    i = j;
  }
  endRun();
  return { pattern: out, literal };
}

type Row = { path: Uint8Array; name: Uint8Array; type: string; size: number | bigint; mtime_ns: number | bigint };

/** Files named like `glob` in job `jobName`'s snapshots (a `user` sees only its own jobs: 404 for others'). */
export async function findInJob(db: CatalogDriver, caller: Caller, jobName: string, glob: string, limit: number): Promise<FindAnswerJson> {
  const { pattern, literal } = sqliteGlob(glob);
  // both bytes, so instr() compares bytes (a name need not be UTF-8)
  const prefilter = literal === '' ? '' : 'AND instr(f.name, ?) > 0';
  const prefilterParams = literal === '' ? [] : [Buffer.from(literal, 'utf8')];
  const job = await ownedJob(db, caller, jobName);
  const snapshots = await db.query<{ pk: number; id: string; time: number }>(
    'SELECT pk, id, time FROM snapshots WHERE job_id = ? AND forgetting_at IS NULL ORDER BY time DESC, pk DESC',
    [job.id],
  );
  const matches: FindMatchJson[] = [];
  for (const s of snapshots) {
    // one more than still wanted says whether anything was left out
    const want = limit - matches.length + 1;
    const rows = await db.query<Row>(
      `SELECT p.path, f.name, f.type, f.size, f.mtime_ns FROM files f JOIN paths p ON p.id = f.path_id
        WHERE f.snapshot_pk = ? ${prefilter} AND f.name GLOB ? LIMIT ?`,
      [s.pk, ...prefilterParams, pattern, want],
    );
    for (const r of rows) {
      if (matches.length === limit) return { matches, truncated: true };
      matches.push(matchJson(s.id, num(s.time), r));
    }
  }
  return { matches, truncated: false };
}

function matchJson(snapshot: string, time: number, r: Row): FindMatchJson {
  const dir = Buffer.from(r.path);
  const full = Buffer.concat([dir, dir.length === 1 ? Buffer.alloc(0) : Buffer.from('/'), r.name]);
  const path = bytesFields(full, 'pathBytes');
  return {
    snapshot,
    time: iso(time)!,
    path: path.text,
    size: Number(r.size),
    mtime: new Date(Number(BigInt(r.mtime_ns) / 1_000_000n)).toISOString(),
    type: r.type,
    ...path.extra,
  };
}

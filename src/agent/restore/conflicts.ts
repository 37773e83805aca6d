// The conflict policy of a restore (SPEC.md "Where a restore writes"): what happens when an
// entry is about to land where something already exists. `rename` (the default of `cairn
// restore`) keeps the existing file and writes the restored one beside it as
// `<name>.restored-<time>`; `overwrite` replaces it; `skip` keeps it and restores nothing there.
// Directories are never conflicts: an existing directory is restored into.
//
// Only entries in directories that existed before the restore can conflict: in a directory the
// restore created itself, nothing is looked at (so a restore into an empty target costs no
// extra system call per file).
import fs from 'node:fs';
import type { ConflictPolicy } from '../../protocol/api-schema.ts';
import type { ConflictCounts } from '../../protocol/control.ts';

export type { ConflictPolicy };
export type Conflict = { path: string; action: ConflictPolicy };
export type { ConflictCounts };

/** Conflicts listed one by one in a result; beyond that only counted (a result must stay small). */
export const MAX_LISTED_CONFLICTS = 1000;

/** `20261122T101530Z`: the time a restore started, in the names `rename` gives. */
export function restoredStamp(time: Date): string {
  return time.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** How a path is looked at: its lstat, or undefined when nothing is there (the restore looks in a held directory). */
export type Look = (path: Buffer) => fs.Stats | undefined;

const lookAtPath: Look = (path) => fs.lstatSync(path, { throwIfNoEntry: false });

export class ConflictResolver {
  readonly policy: ConflictPolicy;
  readonly listed: Conflict[] = [];
  /** every conflict, listed or not */
  count = 0;
  readonly #suffix: Buffer;
  readonly #show: (path: Buffer) => string;

  /** `show` turns a restored path into the path reported (the original one). */
  constructor(policy: ConflictPolicy, time: Date, show: (path: Buffer) => string) {
    this.policy = policy;
    this.#suffix = Buffer.from(`.restored-${restoredStamp(time)}`);
    this.#show = show;
  }

  /**
   * Where the entry meant for `path` goes: `path` itself, a free sibling name (`rename`), or
   * undefined (`skip`). `fresh`: its directory was made by this restore, so nothing is there.
   * Throws when `path` cannot be examined (the caller reports the entry damaged).
   */
  place(path: Buffer, fresh: boolean, look: Look = lookAtPath): Buffer | undefined {
    if (fresh || !look(path)) return path;
    this.count++;
    if (this.listed.length < MAX_LISTED_CONFLICTS) this.listed.push({ path: this.#show(path), action: this.policy });
    if (this.policy === 'overwrite') return path;
    if (this.policy === 'skip') return undefined;
    const renamed = Buffer.concat([path, this.#suffix]);
    // a second restore in the same second: number the names rather than replace one
    for (let n = 0, candidate = renamed; ; candidate = Buffer.concat([renamed, Buffer.from(`-${++n}`)]))
      if (!look(candidate)) return candidate;
  }

  /**
   * Where a directory goes: an existing directory is restored into; something else in its place
   * is a conflict (`overwrite` leaves it to the restorer, which refuses to restore through it).
   */
  placeDir(path: Buffer, fresh: boolean, look: Look = lookAtPath): Buffer | undefined {
    if (fresh) return path;
    const st = look(path);
    if (!st || st.isDirectory() || this.policy === 'overwrite') return path;
    return this.place(path, false, look);
  }

  /** Every conflict by what the policy did with it (one policy per restore: one count is non-zero). */
  counts(): ConflictCounts {
    const n = (policy: ConflictPolicy) => (this.policy === policy ? this.count : 0);
    return { renamed: n('rename'), skipped: n('skip'), overwritten: n('overwrite') };
  }

  /** The one-line note for conflicts beyond the listed ones, if any. */
  unlisted(): string | undefined {
    const more = this.count - this.listed.length;
    return more > 0 ? `${more} more conflicts (${this.policy}) not listed` : undefined;
  }
}

// The folders an agent lets restores write into (`--restore-root`, SPEC.md "Where a restore
// writes"). A restore lands at `to` + each original path, so what is checked is where it would
// really write: `to` joined with each --include path (or `to` itself), with every symlink on the
// way resolved, against the real paths of the roots. A symlink inside an allowed folder that
// points outside it is therefore refused here; below the part that exists, the restorer itself
// refuses to write through symlinks (path-guard.ts), so nothing created later can escape either.
import fs from 'node:fs';
import path from 'node:path';
import { CairnError } from '../core/errors.ts';

/**
 * `p` (absolute) with symlinks resolved: the real path of its deepest existing ancestor, then
 * the components that do not exist yet.
 */
export function realPathOf(p: string): string {
  if (!path.isAbsolute(p)) throw new CairnError('E_BAD_REQUEST', `not an absolute path: ${p}`);
  const missing: string[] = [];
  let at = path.normalize(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(at), ...missing.reverse());
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file where a directory would be; the restore fails there anyway, and the
      // path as written is still compared below
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const parent = path.dirname(at);
      if (parent === at) return path.join(at, ...missing.reverse());
      missing.push(path.basename(at));
      at = parent;
    }
  }
}

/** True when `child` is `parent` or below it (both real, normalized absolute paths). */
export function isWithin(child: string, parent: string): boolean {
  if (parent === '/') return true;
  return child === parent || child.startsWith(`${parent}/`);
}

/** Where a restore to `to` with these include paths would write (not yet resolved). */
export function restoreDestinations(to: string, include: string[]): string[] {
  if (include.length === 0) return [to];
  return include.map((p) => path.join(to, p));
}

/**
 * Refuses (E_FORBIDDEN) a restore that would write outside every root. No roots: anywhere is
 * allowed (the agent was started without --restore-root).
 */
export function checkRestoreTarget(to: string, include: string[], roots: readonly string[]): void {
  if (roots.length === 0) return;
  const realRoots = roots.map(realPathOf);
  for (const dest of restoreDestinations(to, include)) {
    const real = realPathOf(dest);
    if (!realRoots.some((root) => isWithin(real, root)))
      throw new CairnError(
        'E_FORBIDDEN',
        `restore to ${dest}${real === dest ? '' : ` (really ${real})`} is outside this agent's restore roots: ${roots.join(', ')}`,
      );
  }
}

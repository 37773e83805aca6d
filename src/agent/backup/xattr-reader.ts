// Reads the extended attributes under the backup's roots before the walk: ONE
// `getfattr -R -P -h -d -m - -e base64 --absolute-names` per root (no symlink followed, every
// namespace, values in base64), parsed as it streams. Only paths that have attributes are
// printed, so the map holds few entries on most systems. The tree walker looks each entry up by
// its path bytes. getfattr missing (Debian package `attr`) → one warning, backup without them.
import { spawn } from 'node:child_process';
import { MAX_XATTR_BYTES, type Xattr, xattrBytes } from '../../core/tree.ts';
import { displayPath, type WarningSink } from '../scan.ts';
import { XattrDumpParser } from '../xattr-dump.ts';

/** Path bytes (as a latin1 string) → the path's attributes, sorted by name bytes. */
export type XattrMap = Map<string, Xattr[]>;

const STDERR_KEPT = 4096;

/** The attributes of everything under `roots` (each root included). */
export async function readXattrs(roots: string[], warnings: WarningSink): Promise<XattrMap> {
  const map: XattrMap = new Map();
  for (const root of roots) {
    const ok = await readRoot(root, map, warnings);
    if (!ok) break;
  }
  return map;
}

/** false when getfattr cannot be run at all (then no root has attributes recorded). */
function readRoot(root: string, map: XattrMap, warnings: WarningSink): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', root], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const parser = new XattrDumpParser((path, attrs) => {
      if (xattrBytes(attrs) > MAX_XATTR_BYTES) {
        warnings.push({
          path: displayPath(path),
          reason: `extended attributes not saved: more than ${MAX_XATTR_BYTES} bytes`,
        });
        return;
      }
      // getfattr prints paths as root + '/' + names, even after a root ending in '/'
      // ('//tmp/x' under '/'); the walker's paths have single slashes and none at the end
      const key = path.toString('latin1').replace(/\/{2,}/g, '/');
      map.set(key.length > 1 && key.endsWith('/') ? key.slice(0, -1) : key, attrs);
    });
    let pending = '';
    child.stdout.setEncoding('latin1'); // one character per byte: names are raw bytes
    child.stdout.on('data', (text: string) => {
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) parser.line(line);
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (stderr.length < STDERR_KEPT) stderr += text;
    });
    let spawnFailed = false;
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnFailed = true;
      if (e.code !== 'ENOENT') return reject(e);
      warnings.push({ path: root, reason: 'xattrs not captured: getfattr not installed (Debian package attr)' });
      resolve(false);
    });
    child.on('close', (code) => {
      if (spawnFailed) return; // reported by 'error'
      if (code === null) return reject(new Error('getfattr was killed'));
      if (pending) parser.line(pending);
      parser.end();
      // getfattr goes on past unreadable paths and exits 1, naming each on stderr. Paths gone or
      // not readable are the walk's to report (it meets the same ones): the rest are warnings.
      for (const line of stderr.split('\n')) {
        const message = line.replace(/^getfattr: /, '').trim();
        if (message && !/^Removing leading|: (No such file or directory|Permission denied)$/.test(message))
          warnings.push({ path: root, reason: `xattrs: ${message}` });
      }
      resolve(true);
    });
  });
}

// One process per data folder: every daemon (server, storage, agent) takes DIR/lock holding its
// pid before touching anything else, and a second process on the same folder is refused. A lock
// left by a process that died (or is a zombie its parent never reaped) is taken over.
import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, fromSystemError } from './errors.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent has not reaped it yet (a zombie) still answers kill(pid, 0).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(pid, 0)
  }
}

/** Takes DIR/lock; E_CONFLICT while another live process holds it. Resolves to the release function. */
export async function lockDataDir(dataDir: string, what: string): Promise<() => Promise<void>> {
  const lockPath = join(dataDir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => unlink(lockPath).catch(() => undefined); // already gone: nothing to release
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, `locking ${dataDir}`);
    }
    const text = await readFile(lockPath, 'utf8').catch(() => '');
    const pid = Number.parseInt(text, 10);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid))
      throw new CairnError('E_CONFLICT', `data directory ${dataDir} is in use by ${what} process ${pid}`);
    await unlink(lockPath).catch(() => undefined); // stale lock of a process that died; retry once
  }
  throw new CairnError('E_CONFLICT', `data directory ${dataDir} is being locked by another process`);
}

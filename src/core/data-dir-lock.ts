// One process per data folder: every daemon (server, storage, agent) takes the folder's lock
// before touching anything else, and a second process on the same folder is refused. Node has no
// flock, so the lock is an abstract Unix socket named after a hash of the folder's real path:
// binding it is atomic (two starters racing never both win) and the kernel releases it when the
// holder dies, however it dies (a crash, SIGKILL), so neither a stale file nor a reused PID can
// block or fool the next start. DIR/lock still holds the holder's pid, for the refusal's message.
import { createHash } from 'node:crypto';
import { realpath, readFile, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { CairnError, fromSystemError } from './errors.ts';

/** The abstract socket (leading NUL: no file, Linux) that is held while `realDir` is locked. */
export function lockSocketName(realDir: string): string {
  return `\0cairn-lock-${createHash('sha256').update(realDir).digest('hex')}`;
}

/** Binds the socket; false when another process holds it. */
function bind(server: Server, name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e));
    server.once('error', failed);
    server.listen(name, () => {
      server.off('error', failed);
      resolve(true);
    });
  });
}

/** Takes the folder's lock; E_CONFLICT while another live process holds it. Resolves to the release function. */
export async function lockDataDir(dataDir: string, what: string): Promise<() => Promise<void>> {
  const real = await realpath(dataDir).catch((e: unknown) => {
    throw fromSystemError(e, `locking ${dataDir}`);
  });
  // nobody is meant to connect: anything that does is hung up on
  const server = createServer((socket) => socket.destroy());
  let held: boolean;
  try {
    held = await bind(server, lockSocketName(real));
  } catch (e) {
    throw fromSystemError(e, `locking ${dataDir}`);
  }
  const lockPath = join(dataDir, 'lock');
  if (!held) {
    const pid = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    // the holder may not have written its pid yet (or is an older version's): say so without one
    const holder = Number.isInteger(pid) && pid > 0 ? ` process ${pid}` : ' process';
    throw new CairnError('E_CONFLICT', `data directory ${dataDir} is in use by ${what}${holder}`);
  }
  server.unref(); // the lock never keeps a process alive on its own
  try {
    await writeFile(lockPath, `${process.pid}\n`, { mode: 0o644 });
  } catch (e) {
    server.close();
    throw fromSystemError(e, `locking ${dataDir}`);
  }
  let released: Promise<void> | undefined;
  return () =>
    (released ??= (async () => {
      // the file first: once the socket is free the next holder writes its own pid there
      await unlink(lockPath).catch(() => undefined); // already gone: nothing to release
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
}

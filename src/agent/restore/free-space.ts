// The pretreatment's free-space check. A restore can land on several filesystems (to '/', the
// original places: /home and /var may be different mounts), so the walk tells, for each file it
// would write, the device of the directory it goes into (an existing directory's own st_dev; a
// directory the restore creates is on its parent's) and an existing directory on that device.
// Each file counts its size rounded up to whole blocks of its filesystem (what it takes on disk;
// sparse files are counted whole, so the estimate errs on the safe side). At the end each
// filesystem's need is compared with its free space (statfs: blocks available to this agent).
import fs from 'node:fs';
import path from 'node:path';

export type SpaceOnFilesystem = {
  /** where the filesystem is mounted */
  mount: string;
  neededBytes: number;
  freeBytes: number;
};

/** `at`: a directory on it, as bytes (names need not be UTF-8) */
type Filesystem = { at: Buffer; blockSize: number; needed: number };

export class SpaceNeeds {
  readonly #byDevice = new Map<number, Filesystem>();

  /** A file of `size` bytes written into a directory on device `dev`; `at`: an existing directory on it. */
  add(dev: number, at: Buffer, size: number): void {
    let fsys = this.#byDevice.get(dev);
    if (!fsys) {
      fsys = { at, blockSize: blockSizeOf(at), needed: 0 };
      this.#byDevice.set(dev, fsys);
    }
    fsys.needed += Math.ceil(size / fsys.blockSize) * fsys.blockSize;
  }

  /** Each filesystem written to, with what the restore needs there and what is free. */
  report(): SpaceOnFilesystem[] {
    return [...this.#byDevice.entries()].map(([dev, f]) => {
      const st = fs.statfsSync(f.at);
      return { mount: mountPointOf(f.at, dev), neededBytes: f.needed, freeBytes: st.bavail * st.bsize };
    });
  }
}

/** One problem per filesystem that lacks room. */
export function spaceProblems(space: readonly SpaceOnFilesystem[]): string[] {
  return space
    .filter((s) => s.neededBytes > s.freeBytes)
    .map((s) => `not enough free space on ${s.mount}: need ${s.neededBytes} bytes, ${s.freeBytes} free`);
}

/** The nearest existing ancestor of `p` (or `p`), symlinks followed, with its device. */
export function nearestExisting(p: string): { at: string; dev: number } {
  let at = path.resolve(p);
  for (;;) {
    const st = fs.statSync(at, { throwIfNoEntry: false });
    if (st) return { at, dev: st.dev };
    const parent = path.dirname(at);
    if (parent === at) return { at, dev: fs.statSync(at).dev };
    at = parent;
  }
}

function blockSizeOf(at: Buffer): number {
  const bsize = fs.statfsSync(at).bsize;
  return bsize > 0 ? bsize : 4096;
}

/**
 * The top of the filesystem holding `at`: climb while the parent is on the same device (in
 * latin1, one character per byte, so any name survives the path arithmetic).
 */
function mountPointOf(at: Buffer, dev: number): string {
  let dir = fs.realpathSync(at, { encoding: 'buffer' }).toString('latin1');
  for (;;) {
    const parent = path.dirname(dir);
    if (parent === dir || fs.statSync(Buffer.from(parent, 'latin1')).dev !== dev) return Buffer.from(dir, 'latin1').toString('utf8');
    dir = parent;
  }
}

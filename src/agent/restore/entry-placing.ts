// Restored entries that carry no data, each made under a temporary name in its directory's
// held-open descriptor (dir-handles.ts), given its metadata and renamed into place, so a name
// is never half made: symlinks, second names of hard-linked files, FIFOs and device nodes.
// (Regular files: file-writer.ts.)
import fs from 'node:fs';
import { CairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import { inDir, type Placed } from './dir-handles.ts';
import { applyNodeMetadata, applySymlinkMetadata } from './metadata.ts';
import { displayPath, tempName } from './path-guard.ts';

/** A temporary name we may have created in `dirFd`: gone already is fine. */
export function removeTemp(dirFd: number, tmp: Buffer): void {
  try {
    fs.unlinkSync(inDir(dirFd, tmp));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** A symlink with the recorded target bytes, made under a temporary name and renamed into place. */
export async function writeSymlink(at: Placed, path: Buffer, node: TreeNode, asRoot: boolean): Promise<void> {
  const target = node.target;
  if (!target) throw new CairnError('E_CORRUPT', `symlink ${displayPath(path)} has no target`);
  const tmp = tempName();
  await at.dir.hold(async (fd) => {
    await fs.promises.symlink(target, inDir(fd, tmp));
    await placeCreated(fd, tmp, at.name, () => applySymlinkMetadata(fd, tmp, node, asRoot));
  });
}

/** A second name `at` for an already restored file (`existing`), made beside it and renamed over it. */
export async function writeHardlink(at: Placed, existing: Placed): Promise<void> {
  const tmp = tempName();
  await existing.dir.hold((existingFd) =>
    at.dir.hold(async (fd) => {
      // link(2) does not follow a symlink found at the existing name: it would link the symlink
      await fs.promises.link(inDir(existingFd, existing.name), inDir(fd, tmp));
      try {
        await fs.promises.rename(inDir(fd, tmp), inDir(fd, at.name));
      } finally {
        // rename between two names of one inode does nothing and leaves the temporary name
        removeTemp(fd, tmp);
      }
    }),
  );
}

/** A FIFO or device node made at `tmp` in `at.dir`: its metadata, then renamed into place. */
export function placeSpecial(at: Placed, tmp: Buffer, node: TreeNode, asRoot: boolean): Promise<void> {
  return at.dir.hold((fd) => placeCreated(fd, tmp, at.name, () => applyNodeMetadata(fd, tmp, node, asRoot)));
}

/** Sets the metadata of something made under a temporary name in `dirFd`, then renames it into place. */
async function placeCreated(dirFd: number, tmp: Buffer, name: Buffer, setMetadata: () => void): Promise<void> {
  try {
    setMetadata();
    await fs.promises.rename(inDir(dirFd, tmp), inDir(dirFd, name));
  } catch (e) {
    removeTemp(dirFd, tmp);
    throw e;
  }
}

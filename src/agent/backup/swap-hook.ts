// Test hook (CAIRN_TEST=1 only, core/test-settings.ts): CAIRN_TEST_SWAP_AFTER_SCAN_FILE names a
// JSON file {"/abs/path": {"symlinkTo": TARGET} | {"renameFrom": OTHER}}. When the backup is about
// to read a file named there (the scan's lstat is done), that file is replaced by a symlink or by
// another file, once per agent process: the race between scan and read that the reader must
// survive (file-reader.ts), made certain instead of timed.
import { readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { testFile } from '../../core/test-settings.ts';

type Swap = { symlinkTo?: string; renameFrom?: string };

const swapped = new Set<string>();

export function swapAfterScan(path: Buffer): void {
  const file = testFile('SWAP_AFTER_SCAN');
  if (file === undefined) return;
  const name = path.toString();
  const swap = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Swap>)[name];
  if (swap === undefined || swapped.has(name)) return;
  swapped.add(name);
  if (swap.renameFrom !== undefined) return renameSync(swap.renameFrom, name);
  rmSync(name);
  symlinkSync(swap.symlinkTo!, name);
}

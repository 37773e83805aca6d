// Test only: the attack the held-open directories (dir-handles.ts) defeat, made deterministic.
// With CAIRN_TEST=1 and CAIRN_TEST_RESTORE_SWAP_FILE naming a JSON file `{"dir": D, "outside": O}`,
// once the restore has opened the directory D (as it is restored, target prefix included) it
// moves D aside to D + '.moved' and puts a symlink to O in its place: what a user who can write
// in the target does between a check and a use, here landing there every time. A restore that
// wrote by path would now write into O; this one writes into D.moved.
import fs from 'node:fs';
import { testFile } from '../../core/test-settings.ts';

export function swapHook(): ((dir: Buffer) => void) | undefined {
  const file = testFile('RESTORE_SWAP');
  if (!file) return undefined;
  const { dir, outside } = JSON.parse(fs.readFileSync(file, 'utf8')) as { dir: string; outside: string };
  let done = false;
  return (opened) => {
    if (done || opened.toString() !== dir) return;
    done = true;
    fs.renameSync(dir, `${dir}.moved`);
    fs.symlinkSync(outside, dir);
  };
}

// Backup reads that follow the scanned inode, on a real cluster: a test hook (backup/swap-hook.ts)
// replaces files right after the scan saw them, one by a symlink to another file and one by
// another file renamed over it (small and multi-segment). The run succeeds with a warning for
// each, the snapshot holds none of them (so the other content is stored under no scanned name),
// and the rest restores byte for byte.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';

const PASSPHRASE = 'swapped files test passphrase';

describe('a file swapped between scan and read', () => {
  let c: Cluster;
  let src: string;
  let elsewhere: string;
  const hook = join(tempDir('cairn-swap-hook-'), 'swaps.json');
  const other = 'OTHER CONTENT, never to be stored under a scanned name\n';

  before(async () => {
    const work = tempDir('cairn-swap-');
    src = join(work, 'src');
    elsewhere = join(work, 'elsewhere');
    mkdirSync(src);
    mkdirSync(elsewhere);
    writeFileSync(join(src, 'kept.txt'), 'kept\n');
    writeFileSync(join(src, 'to-link'), 'scanned content A\n');
    writeFileSync(join(src, 'to-other'), 'scanned content B\n');
    writeFileSync(join(src, 'big-to-other'), randomBytes(20 * 1024 * 1024)); // more than one 8 MiB segment
    writeFileSync(join(elsewhere, 'target'), other);
    writeFileSync(join(elsewhere, 'small'), other);
    writeFileSync(join(elsewhere, 'big'), Buffer.concat([Buffer.from(other), randomBytes(20 * 1024 * 1024)]));
    writeFileSync(
      hook,
      JSON.stringify({
        [join(src, 'to-link')]: { symlinkTo: join(elsewhere, 'target') },
        [join(src, 'to-other')]: { renameFrom: join(elsewhere, 'small') },
        [join(src, 'big-to-other')]: { renameFrom: join(elsewhere, 'big') },
      }),
    );
    c = await startCluster({ agents: ['a1'], storages: ['s1'], env: { CAIRN_TEST: '1', CAIRN_TEST_SWAP_AFTER_SCAN_FILE: hook } });
    const r = await c.cli(['job', 'create', 'home', '--agent', 'a1', '--storage', 's1', '--path', src], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await c?.stop();
  });

  it('is a warning and not in the snapshot; the rest backs up and restores', async () => {
    const run = await c.json<RunJson>(['job', 'run', 'home', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(readdirSync(src).length, 4, 'the hook swapped, it did not remove');
    assert.deepEqual(
      run.warnings.map((w) => [w.path, w.reason]).sort(),
      [
        [join(src, 'big-to-other'), 'not saved: replaced by another file since it was scanned'],
        [join(src, 'to-link'), 'not saved: replaced by a symbolic link since it was scanned'],
        [join(src, 'to-other'), 'not saved: replaced by another file since it was scanned'],
      ],
    );

    const to = tempDir('cairn-swap-restore-');
    const restored = await c.json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    const copy = join(to, src);
    assert.deepEqual(readdirSync(copy), ['kept.txt'], 'no swapped file is in the snapshot under its name');
    assert.equal(readFileSync(join(copy, 'kept.txt'), 'utf8'), 'kept\n');
    assert.equal(existsSync(join(copy, 'to-link')), false);
  });
});

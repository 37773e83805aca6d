import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { DirCache } from './dir-handles.ts';
import { FsSyncs } from './dir-sync.ts';
import { ShellSyncs } from './shell-syncs.ts';

const ownFds = () => fs.readdirSync('/proc/self/fd').length;

/** Two scratch directories on the same file system and, where /dev/shm is another one, a third. */
function scratch(): { dirs: string[]; devs: number } {
  const base = fs.mkdtempSync(join(tmpdir(), 'cairn-fssync-'));
  const dirs = [base, join(base, 'sub')];
  fs.mkdirSync(dirs[1]!);
  if (fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(base).dev)
    dirs.push(fs.mkdtempSync('/dev/shm/cairn-fssync-'));
  return { dirs, devs: new Set(dirs.map((d) => fs.statSync(d).dev)).size };
}

test('one syncfs per file system written to, all of them before flush() resolves, descriptors closed', async () => {
  const { dirs, devs } = scratch();
  const before = ownFds();
  const cache = new DirCache();
  const handles = dirs.map((d) => cache.root(Buffer.from(d)));
  const synced: number[] = [];
  const shells = new ShellSyncs();
  const syncs = new FsSyncs(async (fd) => {
    await shells.sync(fd); // the real `sync -f` through the descriptor
    synced.push(fs.fstatSync(fd).dev);
  });
  try {
    for (const h of handles) syncs.note(h);
    assert.equal(syncs.count, devs);
    await syncs.flush();
    assert.deepEqual(synced.sort(), [...new Set(dirs.map((d) => fs.statSync(d).dev))].sort());
  } finally {
    syncs.close();
    shells.close();
    for (const h of handles) cache.close(h);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
  // the flushing shells' pipes close as they exit, just after close()
  for (let i = 0; i < 200 && ownFds() !== before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(ownFds(), before);
});

test('a failing syncfs fails the flush with the directory and the reason', async () => {
  const { dirs } = scratch();
  const cache = new DirCache();
  const root = cache.root(Buffer.from(dirs[0]!));
  const syncs = new FsSyncs(() => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })));
  try {
    syncs.note(root);
    await assert.rejects(
      syncs.flush(),
      (e) => isCairnError(e, 'E_INTERNAL') && e.message.includes(dirs[0]!) && /flushed to disk: EIO/.test(e.message),
    );
  } finally {
    syncs.close();
    cache.close(root);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
});

test('a directory that cannot be reopened leaves its file system to another one; with none the flush fails', async () => {
  const base = fs.mkdtempSync(join(tmpdir(), 'cairn-fssync-'));
  const cache = new DirCache();
  const root = cache.root(Buffer.from(base));
  try {
    const swapped = await root.child(Buffer.from('swapped'));
    swapped.drop();
    fs.renameSync(join(base, 'swapped'), join(base, 'moved'));
    fs.symlinkSync(tmpdir(), join(base, 'swapped'));
    const alone = new FsSyncs(async () => undefined);
    alone.note(swapped); // reopening meets the symlink: refused, not followed
    assert.equal(alone.count, 0);
    await assert.rejects(alone.flush(), (e) => isCairnError(e, 'E_INTERNAL') && /swapped could not be flushed/.test(e.message));
    alone.close();

    const synced: number[] = [];
    const syncs = new FsSyncs(async (fd) => void synced.push(fd));
    syncs.note(swapped);
    syncs.note(root);
    await syncs.flush();
    assert.equal(synced.length, 1);
    syncs.close();
  } finally {
    cache.close(root);
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('past EARLY_FLUSH_BYTES restored a flush starts in the background; the final one still runs; an early failure fails it', async () => {
  const { dirs } = scratch();
  const cache = new DirCache();
  const root = cache.root(Buffer.from(dirs[0]!));
  const calls: string[] = [];
  let fail = true;
  const syncs = new FsSyncs(async () => {
    calls.push(fail ? 'early (fails)' : 'final');
    if (fail) throw Object.assign(new Error('EIO'), { code: 'EIO' });
  }, 1000);
  try {
    syncs.restored(600);
    assert.deepEqual([...calls], [], 'under the threshold');
    syncs.restored(600); // past it, but no file system noted yet: nothing to flush
    assert.deepEqual([...calls], []);
    syncs.note(root);
    syncs.restored(1); // the bytes before still count
    assert.deepEqual([...calls], ['early (fails)'], 'started at once, not at the end');
    fail = false;
    // the final flush succeeds, but the written data the early one failed on is not on disk
    await assert.rejects(syncs.flush(), (e) => isCairnError(e, 'E_INTERNAL') && /flushed to disk: EIO/.test(e.message));
  } finally {
    syncs.close();
    cache.close(root);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }

  const again = new FsSyncs(async () => {
    calls.push('ok');
  }, 1000);
  const cache2 = new DirCache(); // the first one is closed with its root
  const root2 = cache2.root(Buffer.from(tmpdir()));
  try {
    again.note(root2);
    again.restored(1000);
    await again.flush();
    assert.deepEqual(calls.slice(-2), ['ok', 'ok'], 'the early flush and the final one');
  } finally {
    again.close();
    cache2.close(root2);
  }
});

// Extended attributes end to end through the CLI as real processes: files (one with a newline and
// a non-UTF-8 byte in its name), a directory and a read-only file carry user.* attributes with
// binary values; as root a symlink carries a trusted.* one. Backed up to a real storage server and
// restored, getfattr prints the same dump for source and copy and rsync -aHX finds no difference.
// A second backup that changed only an attribute (the file's data is reused from the parent) is
// restored with the new value.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCairn } from './support/cli.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const PASSPHRASE = 'xattr test passphrase';
const hasAttrTools = spawnSync('getfattr', ['--version']).status === 0 && spawnSync('setfattr', ['--version']).status === 0;
const asRoot = process.getuid?.() === 0;

/** A fresh directory on a file system that takes user.* attributes (tmpfs may not), or undefined. */
function xattrCapableDir(): string | undefined {
  for (const base of [tmpdir(), '/var/tmp']) {
    const dir = fs.mkdtempSync(join(base, 'cairn-xattrs-'));
    if (spawnSync('setfattr', ['-n', 'user.probe', '-v', '1', dir]).status === 0) {
      spawnSync('setfattr', ['-x', 'user.probe', dir]);
      return dir;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return undefined;
}

/** setfattr through find, so raw name bytes reach it unchanged (Node's argv is UTF-8). */
function setAttr(dir: string, findName: string, name: string, value: Buffer, noDeref = false): void {
  const args = [dir, '-name', findName, '-exec', 'setfattr', ...(noDeref ? ['-h'] : []), '-n', name];
  // an empty value is set by leaving -v out (`-v 0s` sets nothing)
  const v = value.length ? ['-v', `0s${value.toString('base64')}`] : [];
  const r = spawnSync('find', [...args, ...v, '{}', '+'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
}

/** getfattr's dump of a tree, paths relative to it and files in name order, so two trees compare directly. */
function dump(root: string): string {
  const r = spawnSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '.'], { cwd: root, encoding: 'latin1' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n\n').sort().join('\n\n');
}

describe('extended attributes through the CLI', { skip: !hasAttrTools && 'getfattr/setfattr not installed' }, () => {
  let server: StorageProcess;
  let work: string | undefined;
  let src: string;
  let connection: string[];
  const cairn = (args: string[]) => runCairn(args, { CAIRN_PASSPHRASE: PASSPHRASE });

  before(async () => {
    work = xattrCapableDir();
    if (!work) return;
    src = join(work, 'src');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    fs.writeFileSync(join(src, 'plain'), 'no attributes\n');
    fs.writeFileSync(join(src, 'a'), 'aaa\n');
    fs.writeFileSync(join(src, 'with space'), 'b\n');
    fs.writeFileSync(Buffer.from(`${src}/sub/odd\n\xff`, 'latin1'), 'odd name\n');
    fs.writeFileSync(join(src, 'sub', 'readonly'), 'ro\n');
    fs.symlinkSync('a', join(src, 'link'));
    setAttr(src, 'a', 'user.bin', Buffer.from([0, 1, 2, 0xff, 0x0a, 0x3d]));
    setAttr(src, 'with space', 'user.one', Buffer.from('1'));
    setAttr(src, 'with space', 'user.two words', Buffer.alloc(0));
    setAttr(src, 'odd*', 'user.name\nwith=odd', Buffer.from('odd value'));
    setAttr(src, 'sub', 'user.dir', Buffer.from('a directory'));
    setAttr(src, 'readonly', 'user.ro', Buffer.from('x'.repeat(300)));
    if (asRoot) setAttr(src, 'link', 'trusted.link', Buffer.from('on the link itself'), true);
    fs.chmodSync(join(src, 'sub', 'readonly'), 0o444);
    fs.chmodSync(join(src, 'sub'), 0o555);

    server = await startStorage();
    connection = ['--storage', server.url, '--ca', server.caFile, '--access-key-file', server.accessKeyFile, '--vault', 'v'];
    const init = await cairn(['direct', 'init', ...connection]);
    assert.equal(init.code, 0, init.stderr);
  });

  after(async () => {
    await server?.stop();
    if (work) {
      spawnSync('chmod', ['-R', 'u+w', work]);
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  const backupAndRestore = async (dst: string) => {
    const backup = await cairn(['direct', 'backup', ...connection, '--json', src]);
    assert.equal(backup.code, 0, backup.stderr);
    const report = JSON.parse(backup.stdout);
    assert.deepEqual(report.warnings, []);
    const restore = await cairn(['direct', 'restore', ...connection, report.snapshot, '--to', join(work!, dst), '--json']);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(JSON.parse(restore.stdout).damaged, []);
    return { report, restored: join(work!, dst, src) };
  };

  const assertSame = (restored: string) => {
    const before = dump(src);
    assert.match(before, /user\.name\\012with\\075odd=0s/);
    assert.match(before, /# file: sub\nuser\.dir=0s/);
    assert.match(before, /user\.two words=0s(\n|$)/);
    assert.equal(dump(restored), before);
    const rsync = spawnSync('rsync', ['-aHX', '--checksum', '--dry-run', '--itemize-changes', `${src}/`, `${restored}/`], {
      encoding: 'utf8',
    });
    assert.equal(rsync.status, 0, rsync.stderr);
    assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
  };

  it('restores every attribute, binary values and odd names included', async (t) => {
    if (!work) return t.skip('no file system here takes user.* attributes');
    const { restored } = await backupAndRestore('dst');
    assertSame(restored);
    if (asRoot) assert.match(dump(restored), /trusted\.link=0s/);
  });

  it('an attribute changed since the parent snapshot is backed up and restored', async (t) => {
    if (!work) return t.skip('no file system here takes user.* attributes');
    setAttr(src, 'a', 'user.bin', Buffer.from('changed'));
    setAttr(src, 'plain', 'user.new', Buffer.from('new'));
    const { report, restored } = await backupAndRestore('dst2');
    assert.ok(report.parent, 'the first snapshot is the parent');
    assert.ok(report.filesChanged < 5, `${report.filesChanged} files read again`);
    assertSame(restored);
  });
});

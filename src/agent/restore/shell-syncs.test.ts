import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { ShellSyncs } from './shell-syncs.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(alive(pid), false, 'the shell exits once closed');
}

test('one shell per descriptor serves every flush of it, and exits once closed', async () => {
  const dir = fs.openSync(tmpdir(), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const syncs = new ShellSyncs();
  try {
    await syncs.sync(dir);
    const [pid] = syncs.shells;
    await Promise.all([syncs.sync(dir), syncs.sync(dir), syncs.sync(dir)]); // queued in the shell, answered in order
    assert.deepEqual(syncs.shells, [pid], 'no second shell, nor a process per flush started by the agent');
    syncs.close();
    await gone(pid!);
  } finally {
    fs.closeSync(dir);
  }
});

test('a flush sync -f refuses rejects with its reason, and the shell goes on serving', async () => {
  // a listening socket's descriptor: `sync -f /proc/self/fd/3` cannot open it (ENXIO)
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  assert.ok(fd > 2);
  const syncs = new ShellSyncs();
  try {
    await assert.rejects(syncs.sync(fd), /sync: error opening '\/proc\/self\/fd\/3': No such device or address/);
    await assert.rejects(syncs.sync(fd), /No such device or address/);
    assert.equal(syncs.shells.length, 1);
  } finally {
    syncs.close();
    server.close();
  }
});

test('a closed descriptor cannot be handed to a shell: the flush rejects', async () => {
  const fd = fs.openSync(tmpdir(), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  fs.closeSync(fd);
  const syncs = new ShellSyncs();
  await assert.rejects(syncs.sync(fd));
  syncs.close();
});

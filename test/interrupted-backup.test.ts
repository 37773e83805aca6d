// A storage server killed with -9 in the middle of a backup: the backup fails with one line, the
// server restarts from its data directory alone, the next backup does not resend what was
// stored before the kill, the vault scrubs clean and the restore is identical by rsync.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCairn } from './support/cli.ts';
import { CAIRN_BIN, type StorageProcess, startStorage } from './support/storage-process.ts';

const PASSPHRASE = 'interrupted backup passphrase';
const env = { CAIRN_PASSPHRASE: PASSPHRASE };

function packBytes(dataDir: string): number {
  const dir = join(dataDir, 'vaults', 'v', 'packs');
  if (!fs.existsSync(dir)) return 0;
  let total = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += fs.statSync(join(e.parentPath, e.name)).size;
  return total;
}

describe('backup interrupted by a killed storage server', () => {
  let server: StorageProcess;
  let work: string;
  const src = () => join(work, 'src');
  const connection = () => ['--storage', server.url, '--ca', server.caFile, '--access-key-file', server.accessKeyFile, '--vault', 'v'];

  before(async () => {
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-kill-'));
    fs.mkdirSync(src());
    for (let i = 0; i < 10; i++) fs.writeFileSync(join(src(), `f${i}.bin`), randomBytes(12 << 20)); // incompressible: 120 MiB stored
    server = await startStorage();
    assert.equal((await runCairn(['direct', 'init', ...connection()], env)).code, 0);
  });

  after(async () => {
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('fails with one line, then resumes without resending what was stored', async () => {
    const backup = spawn(CAIRN_BIN, ['direct', 'backup', ...connection(), src()], { env: { ...process.env, ...env } });
    let stderr = '';
    backup.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => backup.once('exit', (code) => resolve(code)));
    // kill the server once at least one pack is durable, while the backup is still sending
    for (let i = 0; i < 600 && packBytes(server.dataDir) === 0 && backup.exitCode === null; i++) await sleep(20);
    server.process.kill('SIGKILL');
    const code = await exited;
    assert.equal(code, 1, `backup should fail when its storage server dies; stderr: ${stderr}`);
    assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
    assert.match(stderr, /^cairn: storage server/);
    const storedBefore = packBytes(server.dataDir);
    assert.ok(storedBefore > 0, 'some packs were stored before the kill');
    assert.ok(storedBefore < 120 << 20, 'the kill came before the end of the backup');

    server = await startStorage({ dataDir: server.dataDir, listen: null }); // restarts from DATA alone
    const again = await runCairn(['direct', 'backup', ...connection(), '--json', src()], env);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { bytesNew: number; bytes: number };
    assert.equal(summary.bytes, 120 << 20);
    assert.ok(
      summary.bytesNew <= (120 << 20) - storedBefore + (16 << 20),
      `resent stored chunks: ${summary.bytesNew} new after ${storedBefore} stored before the kill`,
    );

    const scrub = await runCairn(['direct', 'scrub', ...connection(), '--json'], env);
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
    assert.deepEqual((JSON.parse(scrub.stdout) as { bad: string[] }).bad, []);
    assert.deepEqual(fs.readdirSync(join(server.dataDir, 'vaults', 'v', 'tmp')), [], 'no upload left half-written');

    const restoreTo = join(work, 'restored');
    const snapshot = JSON.parse((await runCairn(['direct', 'snapshots', ...connection(), '--json'], env)).stdout) as { id: string }[];
    assert.equal(snapshot.length, 1, 'the failed backup left no snapshot');
    const restored = await runCairn(['direct', 'restore', ...connection(), snapshot[0]!.id, '--to', restoreTo], env);
    assert.equal(restored.code, 0, restored.stderr);
    const diff = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src()}/`, `${join(restoreTo, src())}/`], {
      encoding: 'utf8',
    });
    assert.equal(diff.status, 0, diff.stderr);
    assert.equal(diff.stdout, '');
  });
});

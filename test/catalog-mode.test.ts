// The backup server's catalog holds password hashes and wrapped keys: `server init` and a running
// `server start` under umask 000 (set by a shell, as an operator's would be) leave the catalog,
// its WAL and its index 0600 (the driver alone: src/server/catalog/sqlite-driver.test.ts).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './support/cluster.ts';
import { CAIRN_BIN } from './support/storage-process.ts';

const UMASK_000 = 'umask 000 && exec "$0" "$@"';
const mode = (file: string) => statSync(file).mode & 0o777;

test('server init and server start under umask 000 keep the catalog, its WAL and its index 0600', async () => {
  const dir = join(tempDir('cairn-catalog-mode-'), 'server');
  const init = spawnSync('sh', ['-c', UMASK_000, CAIRN_BIN, 'server', 'init', '--data', dir, '--admin-password-stdin'], {
    input: 'a long test password\n',
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(init.status, 0, init.stderr);
  assert.equal(mode(join(dir, 'catalog.db')), 0o600);

  const server = spawn('sh', ['-c', UMASK_000, CAIRN_BIN, 'server', 'start', '--data', dir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
  try {
    // the first stdout line is the URL: the catalog is open and migrated by then
    await new Promise<void>((resolve, reject) => {
      server.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('\n') && resolve());
      void exited.then(() => reject(new Error(`server start exited: ${stderr}`)));
    });
    for (const side of ['', '-wal', '-shm']) {
      const file = join(dir, `catalog.db${side}`);
      assert.ok(existsSync(file), `${file} exists while the server runs`);
      assert.equal(mode(file), 0o600, `catalog.db${side}`);
    }
  } finally {
    server.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  }
});

// Bad input through the CLI as a real process: each gets a one-line error, the documented exit
// status (2 for usage, 1 for a refused operation), and leaves the vault exactly as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCairn } from './support/cli.ts';
import { vaultState } from './support/storage-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const PASSPHRASE = 'the right passphrase';
const VAULT = 'v';

describe('cairn direct: bad input', () => {
  let server: StorageProcess;
  let work: string;
  let connection: string[];
  let snapshot: string;

  const cairn = (args: string[], passphrase = PASSPHRASE) => runCairn(args, { CAIRN_PASSPHRASE: passphrase });

  /** Exit status, a single stderr line matching `message`, nothing on stdout, vault unchanged. */
  async function refused(args: string[], code: number, message: RegExp, passphrase?: string) {
    const before = vaultState(server, VAULT);
    const r = await cairn(args, passphrase);
    assert.equal(r.code, code, `exit status of ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.deepEqual(vaultState(server, VAULT), before);
  }

  before(async () => {
    server = await startStorage();
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-cli-'));
    fs.mkdirSync(join(work, 'src'));
    fs.writeFileSync(join(work, 'src', 'a.txt'), 'hello\n'.repeat(1000));
    connection = ['--storage', server.url, '--ca', server.caFile, '--access-key-file', server.accessKeyFile, '--vault', VAULT];
    assert.equal((await cairn(['direct', 'init', ...connection])).code, 0);
    const r = await cairn(['direct', 'backup', ...connection, '--json', join(work, 'src')]);
    assert.equal(r.code, 0, r.stderr);
    snapshot = (JSON.parse(r.stdout) as { snapshot: string }).snapshot;
  });

  after(async () => {
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('refuses a wrong passphrase', async () => {
    await refused(['direct', 'backup', ...connection, join(work, 'src')], 1, /wrong passphrase/, 'not the passphrase');
    await refused(['direct', 'restore', ...connection, snapshot, '--to', join(work, 'r')], 1, /wrong passphrase/, 'nope nope');
    assert.equal(fs.existsSync(join(work, 'r')), false);
  });

  it('refuses to create a vault that exists, keeping its keys', async () => {
    const config = join(server.dataDir, 'vaults', VAULT, 'vault.json');
    const keysBefore = fs.readFileSync(config);
    await refused(['direct', 'init', ...connection], 1, /exists/, 'another passphrase');
    assert.deepEqual(fs.readFileSync(config), keysBefore);
    assert.equal((await cairn(['direct', 'snapshots', ...connection, '--json'])).code, 0);
  });

  it('refuses an unknown snapshot', async () => {
    await refused(['direct', 'restore', ...connection, 'f'.repeat(64), '--to', join(work, 'r')], 1, /snapshot/);
    await refused(['direct', 'restore', ...connection, '../../etc/passwd', '--to', join(work, 'r')], 1, /snapshot/);
  });

  it('answers bad usage with exit status 2', async () => {
    await refused(['direct', 'backup', join(work, 'src')], 2, /--storage is required/);
    await refused(['direct', 'backup', ...connection, '--bogus', join(work, 'src')], 2, /bogus/);
    await refused(['direct', 'backup', ...connection, join(work, 'does-not-exist')], 2, /no such path/);
    await refused(['direct', 'restore', ...connection, snapshot], 2, /--to is required/);
    await refused(['direct', 'restore', ...connection, snapshot, '--to', join(work, 'r'), '--workers', 'many'], 2, /--workers/);
    await refused(['direct', 'frobnicate'], 2, /unknown command/);
  });

  it('refuses a storage server it cannot authenticate with', async () => {
    const badKey = join(work, 'bad-key');
    fs.writeFileSync(badKey, '00'.repeat(32));
    const args = connection.map((a) => (a === server.accessKeyFile ? badKey : a));
    await refused(['direct', 'backup', ...args, join(work, 'src')], 1, /access key|unauthori/i);
  });
});

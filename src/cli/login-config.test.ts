import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CairnError } from '../core/errors.ts';
import { loadLogin, loginConfigPath, pinAgentKey, pinnedAgentKey, removeLogin, saveLogin } from './login-config.ts';

describe('login config', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-login-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const login = { server: 'https://127.0.0.1:8443', ca: '-----BEGIN CERTIFICATE-----\n…', token: 'sess-secret', user: 'alice' };

  it('lives at $CAIRN_CONFIG, else under $XDG_CONFIG_HOME, else ~/.config', () => {
    assert.equal(loginConfigPath({ CAIRN_CONFIG: '/etc/c.json', XDG_CONFIG_HOME: '/x' }, '/home/a'), '/etc/c.json');
    assert.equal(loginConfigPath({ XDG_CONFIG_HOME: '/x' }, '/home/a'), '/x/cairn/cli.json');
    assert.equal(loginConfigPath({}, '/home/a'), '/home/a/.config/cairn/cli.json');
  });

  it('is saved with mode 0600 in a new 0700 folder and read back', async () => {
    const file = path.join(dir, 'new', 'cairn', 'cli.json');
    await saveLogin(login, file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.deepEqual(await loadLogin(file), login);
    await saveLogin({ ...login, token: 'sess-2' }, file); // replaced atomically, still 0600
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await loadLogin(file)).token, 'sess-2');
    assert.equal(JSON.parse(await readFile(file, 'utf8')).user, 'alice');
    await removeLogin(file);
    await assert.rejects(stat(file));
  });

  it('tells how to log in when there is none (usage, exit 2), and refuses a file that is not a login', async () => {
    await assert.rejects(
      loadLogin(path.join(dir, 'absent.json')),
      (e: unknown) => e instanceof CairnError && e.code === 'E_USAGE' && e.message.startsWith('not logged in: run cairn login URL'),
    );
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{"server": "https://x"}');
    await assert.rejects(loadLogin(bad), (e: unknown) => e instanceof CairnError && /is not a Cairn login/.test(e.message));
  });

  it('keeps pinned agent key fingerprints per server, 0600, across a new login and a logout', async () => {
    const file = path.join(dir, 'pins', 'cli.json');
    await saveLogin(login, file);
    assert.equal(await pinnedAgentKey(login.server, 'laptop', file), undefined);
    await pinAgentKey(login.server, 'laptop', 'a'.repeat(64), file);
    await pinAgentKey('https://other:1', 'laptop', 'b'.repeat(64), file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await loadLogin(file), login); // the login itself unchanged
    assert.equal(await pinnedAgentKey(login.server, 'laptop', file), 'a'.repeat(64));
    assert.equal(await pinnedAgentKey('https://other:1', 'laptop', file), 'b'.repeat(64));
    await pinAgentKey(login.server, 'laptop', 'c'.repeat(64), file); // re-pinned
    await saveLogin({ ...login, token: 'sess-3' }, file);
    assert.equal(await pinnedAgentKey(login.server, 'laptop', file), 'c'.repeat(64));
    await removeLogin(file);
    await assert.rejects(loadLogin(file), (e: unknown) => e instanceof CairnError && e.code === 'E_USAGE' && e.message.startsWith('not logged in'));
    assert.equal(await pinnedAgentKey(login.server, 'laptop', file), 'c'.repeat(64));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.doesNotMatch(await readFile(file, 'utf8'), /sess-/); // the session token is gone
  });
});

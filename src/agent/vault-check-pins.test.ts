import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { VAULT_CHECKS_FILE, VaultCheckPins } from './vault-check-pins.ts';

describe('VaultCheckPins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-check-pins-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, VAULT_CHECKS_FILE);

  it('pins each vault at first use (0600) and refuses another value for it afterwards, naming both', async () => {
    const pins = new VaultCheckPins(dir);
    // first uses of two vaults at once: both pinned, neither lost
    await Promise.all([pins.check('s1', 'a', 'a'.repeat(64)), pins.check('s1', 'b', 'b'.repeat(64))]);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { 's1/a': 'a'.repeat(64), 's1/b': 'b'.repeat(64) });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await pins.check('s1', 'a', 'a'.repeat(64)); // the same keys again
    const before = readFileSync(file, 'utf8');
    await assert.rejects(
      new VaultCheckPins(dir).check('s1', 'a', 'c'.repeat(64)),
      (e) => isCairnError(e, 'E_CONFLICT') && new RegExp(`vault a: .*pinned ${'a'.repeat(64)}, these keys give ${'c'.repeat(64)}`).test((e as Error).message),
    );
    assert.equal(readFileSync(file, 'utf8'), before);
    await pins.check('s2', 'a', 'c'.repeat(64)); // the same name on another storage server is another vault
  });

  it('refuses a damaged pin file instead of starting over', async () => {
    writeFileSync(file, '{"s1/a": 7}');
    await assert.rejects(new VaultCheckPins(dir).check('s1', 'a', 'a'.repeat(64)), (e) => isCairnError(e, 'E_CORRUPT'));
    assert.equal(readFileSync(file, 'utf8'), '{"s1/a": 7}');
  });
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BLOB_DATA } from '../core/blob.ts';
import { PackBuilder } from '../core/pack.ts';
import { parsePack } from '../core/pack-verifier.ts';
import { placeholderVaultConfig } from '../../test/support/storage-fixtures.ts';
import { SCRUB_REASONS, scrubVault } from './scrub.ts';
import { Vault } from './vault-store.ts';

const config = placeholderVaultConfig;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function newVault(): Vault {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-scrub-'));
  dirs.push(dir);
  fs.mkdirSync(join(dir, 'packs'));
  return new Vault('v', dir, config);
}

/** A sound pack of `blobs` random blobs written to its place; indexed unless told otherwise. */
function storePack(vault: Vault, blobs: number, indexed = true): { name: string; size: number } {
  const builder = new PackBuilder();
  for (let i = 0; i < blobs; i++) builder.add(BLOB_DATA, randomBytes(32), Buffer.concat([Buffer.of(1), randomBytes(500)]));
  const { buffers, name } = builder.finish();
  const bytes = Buffer.concat(buffers);
  fs.mkdirSync(join(vault.packsDir, name.slice(0, 2)), { recursive: true });
  fs.writeFileSync(vault.packPath(name), bytes);
  if (indexed) vault.index.addPack(name, bytes.length, parsePack(bytes));
  return { name, size: bytes.length };
}

/** Every file under packs/ with its size: scrub must leave this unchanged. */
function listing(vault: Vault): string[] {
  return (fs.readdirSync(vault.packsDir, { recursive: true, encoding: 'utf8' }) as string[])
    .map((p) => `${p} ${fs.statSync(join(vault.packsDir, p)).size}`)
    .sort();
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('scrubVault', () => {
  it('finds nothing wrong with sound indexed packs and counts every byte', async () => {
    const vault = newVault();
    const a = storePack(vault, 3);
    const b = storePack(vault, 1);
    assert.deepEqual(await scrubVault(vault), { packs: 2, bytes: a.size + b.size, bad: [], damaged: [], damagedTotal: 0 });
    vault.index.close();
  });

  it('lists the first 1,000 findings and counts them all', async () => {
    const vault = newVault();
    for (let i = 0; i < 1005; i++) fs.writeFileSync(join(vault.packsDir, `stray-${i}`), 'x');
    const report = await scrubVault(vault);
    assert.equal(report.damagedTotal, 1005);
    assert.equal(report.damaged.length, 1000);
    assert.equal(report.bad.length, 1000);
  });

  it('says why each pack is damaged, and changes nothing', async () => {
    const vault = newVault();
    const flipped = storePack(vault, 2);
    const deleted = storePack(vault, 2);
    const moved = storePack(vault, 2);
    const sound = storePack(vault, 2);
    const unindexedSound = storePack(vault, 1, false);
    // a file named by its own hash but not a pack, that the index lacks
    const junk = randomBytes(300);
    const junkName = sha256(junk);
    fs.mkdirSync(join(vault.packsDir, junkName.slice(0, 2)), { recursive: true });
    fs.writeFileSync(join(vault.packsDir, junkName.slice(0, 2), junkName), junk);
    fs.writeFileSync(join(vault.packsDir, 'README'), 'stray');

    const bytes = fs.readFileSync(vault.packPath(flipped.name));
    bytes[50] = bytes[50]! ^ 0x5a;
    fs.writeFileSync(vault.packPath(flipped.name), bytes);
    fs.rmSync(vault.packPath(deleted.name));
    const wrongPrefix = moved.name.startsWith('00') ? 'ff' : '00';
    fs.mkdirSync(join(vault.packsDir, wrongPrefix), { recursive: true });
    fs.renameSync(vault.packPath(moved.name), join(vault.packsDir, wrongPrefix, moved.name));
    fs.writeFileSync(join(vault.packsDir, wrongPrefix, 'notes.tmp'), 'x');

    const before = listing(vault);
    const report = await scrubVault(vault);
    assert.deepEqual(listing(vault), before, 'scrub changed the files');

    const reasons = new Map(report.damaged.map((d) => [d.pack, d.reason]));
    assert.equal(reasons.get(flipped.name), SCRUB_REASONS.mismatch(sha256(bytes)));
    assert.match(reasons.get(flipped.name)!, /^content does not match its name \(SHA-256 [0-9a-f]{64}\)$/);
    assert.equal(reasons.get(deleted.name), SCRUB_REASONS.missing);
    assert.equal(reasons.get(moved.name), SCRUB_REASONS.wrongPrefix(wrongPrefix));
    assert.match(reasons.get(junkName)!, /^not indexed and not a sound pack \(.+\)$/);
    assert.equal(reasons.get('README'), SCRUB_REASONS.strayFile);
    assert.equal(reasons.get('notes.tmp'), SCRUB_REASONS.notPackName);
    assert.equal(report.damaged.length, 6, JSON.stringify(report.damaged));
    assert.equal(reasons.has(sound.name), false);
    assert.equal(reasons.has(unindexedSound.name), false, 'a sound pack the index lacks is not damage');
    assert.deepEqual(new Set(report.bad), new Set(reasons.keys()));
    assert.equal(report.bad.length, report.damaged.length);

    // packs counts the files read under prefix directories (not the stray one at the top)
    assert.equal(report.packs, 6);
    const sizes = [flipped.size, moved.size, sound.size, unindexedSound.size, junk.length, 1];
    assert.equal(report.bytes, sizes.reduce((x, y) => x + y, 0));
    vault.index.close();
  });
});

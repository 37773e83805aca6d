// Shared pieces of the storage tests: packs of random sealed blobs, a vault config, a snapshot of
// what a vault holds (to show that refused input changed nothing), and raw HTTPS requests for
// what the client would never send.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DEFAULT_CHUNKER } from '../../src/core/chunker.ts';
import { CairnError } from '../../src/core/errors.ts';
import { generateVaultKeys, wrapKeys } from '../../src/core/keys.ts';
import { PackBuilder } from '../../src/core/pack.ts';
import type { VaultConfig } from '../../src/protocol/data-plane.ts';
import type { StorageProcess } from './storage-process.ts';

/** A pack of `count` random sealed blobs (storage never opens them; the version byte must be 1). */
export function randomPack(count: number, size = 2000) {
  const builder = new PackBuilder();
  const blobs: { id: Buffer; sealed: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomBytes(32);
    const sealed = randomBytes(size + i);
    sealed[0] = 1;
    builder.add(0, id, sealed);
    blobs.push({ id, sealed });
  }
  const pack = builder.finish();
  return { ...pack, blobs, bytes: Buffer.concat(pack.buffers) };
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function testVaultConfig(): Promise<VaultConfig> {
  return { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(generateVaultKeys(), 'test passphrase') };
}

/** Awaits a rejection with this CairnError code and message. */
export async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<CairnError> {
  const e = await p.then(
    () => assert.fail(`expected ${code}, but it succeeded`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof CairnError, `expected a CairnError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  return e;
}

/** What a vault holds: its files (tmp included, the SQLite files aside) and its index row counts. */
/** Runs `action` and checks that what vault `vault` holds on disk did not change. */
export async function vaultUnchangedBy(server: StorageProcess, vault: string, action: () => Promise<unknown>, message = 'nothing stored may change'): Promise<void> {
  const before = vaultState(server, vault);
  await action();
  assert.deepEqual(vaultState(server, vault), before, message);
}

export function vaultState(server: StorageProcess, vault: string) {
  const dir = join(server.dataDir, 'vaults', vault);
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !/index\.sqlite/.test(e.name))
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
  const indexPath = join(dir, 'index.sqlite');
  if (!existsSync(indexPath)) return { files, packs: 0, chunks: 0 }; // the server has not opened the vault yet
  const db = new DatabaseSync(indexPath, { readOnly: true });
  try {
    const count = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    return { files, packs: count('packs'), chunks: count('chunks') };
  } finally {
    db.close();
  }
}

export type RawRequest = {
  method: string;
  path: string;
  /** the access key, or none */
  key?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
};

/** One HTTPS request trusting the server's CA, outside StorageClient: status and body text. */
export function rawRequest(server: StorageProcess, r: RawRequest): Promise<{ status: number; body: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: r.method,
        path: r.path,
        ca: readFileSync(server.caFile, 'utf8'),
        headers: { ...(r.key ? { authorization: `Bearer ${r.key}` } : {}), ...r.headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

/** A vault config whose key file is well formed but opens with nothing: for tests that never decrypt. */
export const placeholderVaultConfig: VaultConfig = {
  version: 1,
  chunker: DEFAULT_CHUNKER,
  keyFile: {
    version: 1,
    kdf: { name: 'argon2id', memoryKiB: 65536, passes: 3, parallelism: 1, salt: Buffer.alloc(16, 1).toString('base64') },
    nonce: Buffer.alloc(12, 2).toString('base64'),
    sealed: Buffer.alloc(112, 3).toString('base64'),
  },
};

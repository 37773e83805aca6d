// The restore's fetching workers (src/agent/restore/chunk-fetchers.ts) against a real storage
// server over TLS: every chunk comes back, in its file's bytes; a worker stops reading while the
// writes are over their budget (the memory bound) and goes on once they drain; an id the vault
// does not have reaches its users as E_NOT_FOUND while the rest of its batch arrives; a blob whose
// content is not its id's (checked on the main thread) reaches them as E_CORRUPT. A worker
// started early (during a restore's pretreatment) is the one the fetchers use, unless it ended.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Batch, batchChunks } from '../src/agent/restore/blob-fetcher.ts';
import { BLOB_DATA, sealBlob } from '../src/core/blob.ts';
import { PackBuilder } from '../src/core/pack.ts';
import { ChunkFetchers } from '../src/agent/restore/chunk-fetchers.ts';
import { CREDIT_BYTES } from '../src/agent/restore/fetch-worker.ts';
import { EarlyFetchWorker, startFetchWorker, type StartedWorker } from '../src/agent/restore/fetch-worker-start.ts';
import { type ChunkContent, WriteBudget } from '../src/agent/restore/file-writer.ts';
import { loadSnapshot } from '../src/agent/snapshots.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { SnapshotWalker } from '../src/agent/verify/snapshot-walk.ts';
import type { SnapshotRecord } from '../src/core/snapshot.ts';
import { parseKeyFile, unwrapKeys, type VaultKeys } from '../src/core/keys.ts';
import { runCairn } from './support/cli.ts';
import { directConnection, initAndBackup } from './support/direct-vault.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const PASSPHRASE = 'chunk fetchers test';
const VAULT = 'fetch';
const FILES = 12;
const FILE_BYTES = 3 * 1024 * 1024;
const WORKERS = 2;

type File = { path: string; chunks: Buffer[]; got: (Buffer | null | Error)[] };

describe('fetching workers', () => {
  let server: StorageProcess;
  let work: string;
  let keys: VaultKeys;
  let client: StorageClient;
  let record: SnapshotRecord;
  const contents = new Map<string, Buffer>();

  before(async () => {
    work = fs.mkdtempSync(join(tmpdir(), 'cairn-fetchers-'));
    const src = join(work, 'src');
    fs.mkdirSync(src);
    // incompressible, so the plaintext out at the main thread is what the credit counts
    for (let i = 0; i < FILES; i++) {
      const bytes = randomBytes(FILE_BYTES);
      fs.writeFileSync(join(src, `f${i}`), bytes);
      contents.set(join(src, `f${i}`), bytes);
    }
    server = await startStorage();
    const connection = directConnection(server, VAULT);
    const snapshot = await initAndBackup((args) => runCairn(args, { CAIRN_PASSPHRASE: PASSPHRASE }), connection, src);
    const config = JSON.parse(fs.readFileSync(join(server.dataDir, 'vaults', VAULT, 'vault.json'), 'utf8'));
    keys = await unwrapKeys(parseKeyFile(config.keyFile), PASSPHRASE);
    client = await StorageClient.fromFiles(server);
    record = await loadSnapshot(client, VAULT, keys, snapshot);
  });

  after(async () => {
    client?.close();
    await server?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** The snapshot's regular files with their chunk ids, in walk order. */
  async function files(): Promise<File[]> {
    const walker = new SnapshotWalker({ client, vault: VAULT, keys, snapshot: record, onDamagedTree: (p, why) => assert.fail(`${p}: ${why}`) });
    const out: File[] = [];
    for await (const { path, node } of walker.entries())
      if (node.type === 'file') out.push({ path: path.toString(), chunks: node.chunks ?? [], got: [] });
    assert.equal(out.length, FILES);
    return out;
  }

  async function* batchesOf(list: File[], extra?: Buffer): AsyncGenerator<Batch<File>> {
    async function* each() {
      yield* list;
    }
    // small batches: several per worker, so the order across workers matters
    for await (const b of batchChunks(each(), (f) => ({ ids: f.chunks, size: FILE_BYTES }), { maxIds: 6, maxBytes: 8 * 1024 * 1024 })) {
      if (extra) {
        b.ids.push(extra);
        b.uses.push([{ file: list[0]!, index: 1000 }]);
        extra = undefined;
      }
      yield b;
    }
  }

  function receiver(list: File[]) {
    let delivered = 0;
    const deliver = (uses: { file: File; index: number }[], content: ChunkContent) => {
      for (const { file, index } of uses) {
        if ('error' in content) file.got[index] = content.error as Error;
        else {
          file.got[index] = content.data && Buffer.from(content.data);
          delivered += content.length;
        }
      }
    };
    return { deliver, delivered: () => delivered, list };
  }

  it('delivers every chunk, stops reading while the writes are over budget, and goes on once they drain', async () => {
    const list = await files();
    const { deliver, delivered } = receiver(list);
    const budget = new WriteBudget(1024 * 1024);
    budget.take(64 * 1024 * 1024); // writes that do not drain: no credit goes back to the workers
    const fetchers = new ChunkFetchers<File>({ client, vault: VAULT, keys, workers: WORKERS, budget, deliver });
    try {
      const all = fetchers.openAll(batchesOf(list));
      let settled = false;
      void all.then(() => (settled = true), () => (settled = true));
      // wait until the first chunks arrive (the workers start and connect), then until nothing more does
      for (let i = 0; i < 100 && delivered() === 0; i++) await new Promise((r) => setTimeout(r, 100));
      let last = -1;
      for (let i = 0; i < 100 && delivered() !== last; i++) {
        last = delivered();
        await new Promise((r) => setTimeout(r, 300));
      }
      const total = FILES * FILE_BYTES;
      // per worker: its credit, the message being gathered (≤ 1 MiB) and the largest chunk (4 MiB)
      const bound = WORKERS * (CREDIT_BYTES + 5 * 1024 * 1024);
      assert.ok(!settled, 'the restore waited for the writes');
      assert.ok(delivered() > 0 && delivered() <= bound, `delivered ${delivered()} bytes of ${total} with no credit back (bound ${bound})`);
      assert.ok(delivered() < total, 'the workers stopped before the end');

      budget.give(64 * 1024 * 1024);
      await all;
      assert.equal(delivered(), total);
      for (const f of list) {
        assert.equal(f.got.length, f.chunks.length, f.path);
        const bytes = Buffer.concat(f.got.map((g) => (g instanceof Buffer ? g : assert.fail(`${f.path}: ${String(g)}`))));
        assert.ok(bytes.equals(contents.get(f.path)!), `${f.path} comes back as it was`);
      }
    } finally {
      await fetchers.close();
    }
  });

  it('an id the vault does not have reaches its users as E_NOT_FOUND; the rest of its batch arrives', async () => {
    const list = await files();
    const { deliver, delivered } = receiver(list);
    const fetchers = new ChunkFetchers<File>({ client, vault: VAULT, keys, workers: WORKERS, budget: new WriteBudget(16 * 1024 * 1024), deliver });
    try {
      await fetchers.openAll(batchesOf(list, randomBytes(32)));
    } finally {
      await fetchers.close();
    }
    const missing = list[0]!.got[1000];
    assert.ok(missing instanceof Error && (missing as Error & { code?: string }).code === 'E_NOT_FOUND', String(missing));
    assert.equal(delivered(), FILES * FILE_BYTES);
  });

  it('a blob that authenticates but is not its id’s content reaches its users as E_CORRUPT, none of it delivered', async () => {
    // sealed under the vault's keys for id `liar`, holding other bytes (a writer's bug, not an attacker's)
    const liar = randomBytes(32);
    const builder = new PackBuilder();
    builder.add(BLOB_DATA, liar, sealBlob(keys, BLOB_DATA, liar, randomBytes(100_000)));
    const pack = builder.finish();
    await client.putPack(VAULT, pack.name, pack.buffers, pack.size);
    const list = await files();
    const { deliver, delivered } = receiver(list);
    const fetchers = new ChunkFetchers<File>({ client, vault: VAULT, keys, workers: WORKERS, budget: new WriteBudget(16 * 1024 * 1024), deliver });
    try {
      await fetchers.openAll(batchesOf(list, liar));
    } finally {
      await fetchers.close();
    }
    const refused = list[0]!.got[1000];
    assert.ok(refused instanceof Error && (refused as Error & { code?: string }).code === 'E_CORRUPT', String(refused));
    assert.match(refused.message, /does not match its id/);
    assert.equal(delivered(), FILES * FILE_BYTES, 'only the honest chunks were delivered');
  });

  /** An early worker whose started worker the test can watch, and a promise of that worker's exit. */
  function watchedEarly(): { early: EarlyFetchWorker; started: StartedWorker; exited: Promise<number> } {
    let started: StartedWorker | undefined;
    const early = new EarlyFetchWorker({ client, vault: VAULT, keys }, (setup) => (started = startFetchWorker(setup)));
    const exited = new Promise<number>((resolve) => started!.worker.once('exit', resolve));
    return { early, started: started!, exited };
  }

  async function fetchAll(early: EarlyFetchWorker) {
    const list = await files();
    const { deliver, delivered } = receiver(list);
    const fetchers = new ChunkFetchers<File>({ client, vault: VAULT, keys, workers: 1, early, budget: new WriteBudget(16 * 1024 * 1024), deliver });
    try {
      await fetchers.openAll(batchesOf(list));
    } finally {
      await fetchers.close();
    }
    assert.equal(delivered(), FILES * FILE_BYTES);
    for (const f of list) assert.ok(Buffer.concat(f.got as Buffer[]).equals(contents.get(f.path)!), `${f.path} comes back as it was`);
  }

  it('a worker started early is the one the fetchers use: every chunk comes back, and it ends with them', async () => {
    const { early, exited } = watchedEarly();
    let ended = false;
    void exited.then(() => (ended = true));
    try {
      await fetchAll(early);
      await new Promise((r) => setImmediate(r));
      assert.ok(ended, 'the fetchers ended the early worker as theirs');
      assert.equal(early.take(), undefined, 'it was taken');
    } finally {
      await early.close();
    }
  });

  it('an early worker that ended before the restore is not used: the fetchers start their own', async () => {
    const { early, started, exited } = watchedEarly();
    await started.worker.terminate();
    await exited;
    try {
      await fetchAll(early);
    } finally {
      await early.close();
    }
  });

  it('an early worker no restore took ends on close', async () => {
    const { early, exited } = watchedEarly();
    await early.close();
    assert.equal(typeof (await exited), 'number');
    assert.equal(early.take(), undefined);
  });
});

// Storage-side forget and gc on real vaults: two snapshots backed up through a real storage
// server (10 MiB and 1 MiB files only in the first, 200 KiB shared and packed with them, 1 MiB
// only in the second, 4 MiB packs), the first deleted, then collected: the unique data's space
// comes back (bytesFreed equal to the drop on disk), a mixed pack is rewritten, and the second snapshot still restores identically
// and scrubs clean. A gc killed (-9) after the mark, in the sweep and in a rewrite leaves a vault
// that scrubs clean and restores, and the next gc finishes. A chunk `missing` answers present
// while a gc runs survives it; a snapshot upload whose chunks a gc swept fails as unavailable
// (retriable) and stores nothing. A run's vouches go when its snapshot is committed (deleted, its
// chunks are freed by the next gc at once), or when it has been silent past the idle time; a run
// that keeps talking keeps them. Append-only: a deletion is only a request, a gc without the code
// frees nothing and writes DATA/gc-confirm (0600), a wrong or expired code is refused, the right
// one frees, once; a new key file keeps the old one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { backup } from '../src/agent/backup/archiver.ts';
import { restore } from '../src/agent/restore/restorer.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, wrapKeys } from '../src/core/keys.ts';
import type { SnapshotRecord } from '../src/core/snapshot.ts';
import type { GcResult } from '../src/protocol/control.ts';
import { missingChunks } from '../src/storage/chunk-lookup.ts';
import { type ControlOptions, storageControlHandlers } from '../src/storage/control-handlers.ts';
import { handlers } from '../src/storage/data-plane-handlers.ts';
import type { RouteName } from '../src/protocol/data-plane.ts';
import { collectGarbage } from '../src/storage/gc.ts';
import { putSnapshot } from '../src/storage/snapshot-store.ts';
import { VaultStore } from '../src/storage/vault-store.ts';
import { rejectsWith } from './support/storage-fixtures.ts';
import { CAIRN_BIN, startStorage } from './support/storage-process.ts';
import { pseudoRandom } from './support/tree-builder.ts';

process.env.CAIRN_TEST = '1';
const MiB = 1024 * 1024;
/** data only the first snapshot holds: a big file and a small one */
const UNIQUE = 11 * MiB;
const SMALL_UNIQUE = MiB;
const VAULT = 'gc';
const keys = generateVaultKeys();
const works: string[] = [];
after(() => {
  for (const w of works) rmSync(w, { recursive: true, force: true });
});

type Fixture = { dataDir: string; work: string; src: string; s1: SnapshotRecord; s2: SnapshotRecord; shared: Buffer; second: Buffer };

async function twoSnapshots(): Promise<Fixture> {
  const server = await startStorage();
  const client = await StorageClient.fromFiles(server);
  try {
    await client.createVault(VAULT, { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'pw') });
    const work = mkdtempSync(join(tmpdir(), 'cairn-gc-'));
    works.push(work);
    const src = join(work, 'src');
    mkdirSync(src);
    const shared = pseudoRandom(200 * 1024, 2); // one chunk: no pack of the first backup is half live
    const second = pseudoRandom(MiB, 3);
    // Small files travel in one batch, sealed in scan order whenever the batch goes (after the big
    // file's segments or before): the shared chunk is followed into its pack by the small unique
    // file's first chunk (≥ 256 KiB), or closes a pack of ≥ 3.8 MiB of unique data. Either way its
    // pack is at least half garbage once the first snapshot goes. (Without the small file, the
    // shared chunk was sealed after all of the big file's and, with some keys' chunk boundaries,
    // packed alone.)
    writeFileSync(join(src, 'a-shared.bin'), shared);
    writeFileSync(join(src, 'b-unique.bin'), pseudoRandom(SMALL_UNIQUE, 4));
    writeFileSync(join(src, 'z-unique.bin'), pseudoRandom(UNIQUE - SMALL_UNIQUE, 1));
    const run = (parent?: SnapshotRecord) =>
      backup({ client, vault: VAULT, keys, chunker: DEFAULT_CHUNKER, paths: [src], host: 'gc-test', parent, workers: 1, packSize: 4 * MiB });
    const s1 = (await run()).snapshot;
    rmSync(join(src, 'b-unique.bin'));
    rmSync(join(src, 'z-unique.bin'));
    writeFileSync(join(src, 'b-second.bin'), second);
    const s2 = (await run(s1)).snapshot;
    return { dataDir: server.dataDir, work, src, s1, s2, shared, second };
  } finally {
    client.close();
    await server.stop();
    await forgetFixtureVouches(server.dataDir);
  }
}

/**
 * The fixture's backups ran through a standalone server (no grant, no run): each connection
 * vouched for itself and only the one that uploaded the snapshot was released. They are over:
 * release the rest, as the idle time would.
 */
async function forgetFixtureVouches(dataDir: string): Promise<void> {
  const store = new VaultStore(dataDir);
  await store.init();
  try {
    const vault = await store.open(VAULT);
    for (const { run } of vault.gcIndex.vouchingRuns()) vault.gcIndex.release(run);
  } finally {
    await store.close();
  }
}

/** A data-plane request of run `run` handed to its handler in this process: its status and answer. */
async function request(store: VaultStore, run: string, route: RouteName, body: Buffer, name?: string): Promise<{ status: number; body: Buffer }> {
  const req = Object.assign(new PassThrough(), { complete: false, headers: { 'content-length': String(body.length) } });
  req.once('end', () => (req.complete = true));
  req.end(body);
  let status = 0;
  let answer: Buffer = Buffer.alloc(0);
  const res = {
    writeHead: (s: number) => void (status = s),
    end: (b?: Buffer) => void (answer = b ?? answer),
  };
  await handlers[route]({
    req: req as unknown as IncomingMessage,
    res: res as unknown as ServerResponse,
    match: { route, op: 'write', vault: VAULT, name },
    store,
    run,
    startBody: () => undefined,
  });
  return { status, body: answer };
}

/** The ids of snapshot `id`'s refs. */
function refIds(f: Fixture, id: string): Buffer[] {
  const b = readFileSync(join(vaultDir(f), 'snapshots', `${id}.refs`));
  return Array.from({ length: b.length / 32 }, (_, i) => b.subarray(i * 32, i * 32 + 32));
}

/** The ids only the first snapshot names. */
function uniqueToFirst(f: Fixture): Buffer[] {
  const kept = new Set(refIds(f, f.s2.id).map((id) => id.toString('hex')));
  return refIds(f, f.s1.id).filter((id) => !kept.has(id.toString('hex')));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function vaultDir(f: Fixture): string {
  return join(f.dataDir, 'vaults', VAULT);
}

function packBytes(f: Fixture): number {
  const dir = join(vaultDir(f), 'packs');
  let n = 0;
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(join(dir, rel));
    if (st.isFile()) n += st.size;
  }
  return n;
}

/** The control handlers on the folder, in this process (no server runs on it meanwhile). */
async function withHandlers<T>(f: Fixture, options: ControlOptions, work: (h: ReturnType<typeof storageControlHandlers>, store: VaultStore) => Promise<T>): Promise<T> {
  const store = new VaultStore(f.dataDir);
  await store.init();
  try {
    return await work(storageControlHandlers(store, options), store);
  } finally {
    await store.close();
  }
}

/** One gc as its own process: its result, or the signal that ended it. */
function gcProcess(f: Fixture, env: Record<string, string> = {}): Promise<{ result?: GcResult; signal: string | null; stderr: string }> {
  const node = join(CAIRN_BIN, '..', '..', 'node_modules', '.bin', 'node');
  const child = spawn(node, [join(import.meta.dirname, 'support', 'gc-process.ts'), f.dataDir], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      if (signal === null) assert.equal(code, 0, err);
      resolve({ result: out.trim() ? (JSON.parse(out) as GcResult) : undefined, signal, stderr: err });
    }),
  );
}

/** Scrubs clean, lists exactly the second snapshot and restores it byte for byte. */
async function assertIntact(f: Fixture): Promise<void> {
  const server = await startStorage({ dataDir: f.dataDir });
  const client = await StorageClient.fromFiles(server);
  try {
    const scrub = await client.scrub(VAULT);
    assert.deepEqual(scrub.damaged, [], JSON.stringify(scrub));
    assert.deepEqual(await client.listSnapshots(VAULT), [f.s2.id]);
    const target = mkdtempSync(join(f.work, 'restore-'));
    const r = await restore({ client, vault: VAULT, keys, snapshot: f.s2, target, workers: 2 });
    assert.deepEqual(r.damaged, []);
    const at = join(target, f.src);
    assert.deepEqual(readdirSync(at).sort(), ['a-shared.bin', 'b-second.bin']);
    assert.ok(readFileSync(join(at, 'a-shared.bin')).equals(f.shared), 'shared file differs after gc');
    assert.ok(readFileSync(join(at, 'b-second.bin')).equals(f.second), 'second file differs after gc');
    rmSync(target, { recursive: true, force: true });
  } finally {
    client.close();
    await server.stop();
  }
}

describe('storage gc', { concurrency: 1 }, () => {
  it('frees the data only a deleted snapshot held, rewriting a mixed pack; the other restores and scrubs clean', async () => {
    const f = await twoSnapshots();
    const before = packBytes(f);
    await withHandlers(f, {}, async (h) => {
      assert.deepEqual(await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id }), { deleted: true });
      assert.deepEqual(await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id }), { deleted: true }, 'a second delete is answered the same');
    });
    assert.ok(!existsSync(join(vaultDir(f), 'snapshots', `${f.s1.id}.snap`)) && !existsSync(join(vaultDir(f), 'snapshots', `${f.s1.id}.refs`)));
    const { result } = await gcProcess(f);
    const drop = before - packBytes(f);
    assert.ok(result, 'gc printed no result');
    assert.ok(drop >= 0.9 * UNIQUE, `disk use dropped ${drop} bytes of ${UNIQUE} unique`);
    assert.ok(Math.abs(result.bytesFreed - drop) <= MiB, `bytesFreed ${result.bytesFreed}, dropped ${drop}`);
    assert.ok(result.packsDeleted >= 1 && result.packsRewritten >= 1, JSON.stringify(result));
    assert.ok(result.chunksDeleted >= 3, JSON.stringify(result));
    assert.equal(result.vaults, 1);
    assert.equal(result.confirmationNeeded, undefined);
    await assertIntact(f);
    const again = await gcProcess(f);
    assert.deepEqual(again.result, { bytesFreed: 0, chunksDeleted: 0, packsRewritten: 0, packsDeleted: 0, vaults: 1 });
  });

  for (const at of ['after-mark', 'mid-sweep', 'mid-rewrite']) {
    it(`a gc killed -9 ${at} leaves a vault that scrubs clean and restores; the next gc finishes`, async () => {
      const f = await twoSnapshots();
      const before = packBytes(f);
      await withHandlers(f, {}, async (h) => h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id }));
      const crashed = await gcProcess(f, { CAIRN_TEST_GC_CRASH_AT: at });
      assert.equal(crashed.signal, 'SIGKILL', `gc was not killed at ${at}: ${crashed.stderr}`);
      await assertIntact(f);
      const { result } = await gcProcess(f);
      assert.ok(result && result.vaults === 1);
      assert.ok(before - packBytes(f) >= 0.9 * UNIQUE, `only ${before - packBytes(f)} bytes freed after the crash at ${at}`);
      assert.deepEqual(readdirSync(join(vaultDir(f), 'tmp')), [], 'temp files left behind');
      await assertIntact(f);
    });
  }

  it("a run's vouches go when its snapshot is committed: deleted, its chunks are freed by a gc right away", async () => {
    const f = await twoSnapshots();
    const unique = uniqueToFirst(f);
    await withHandlers(f, {}, async (h, store) => {
      // a second backup (run r2) is told the first snapshot's chunks are present and commits a snapshot of them
      assert.deepEqual(await request(store, 'r2', 'missing', Buffer.concat(unique)), { status: 200, body: Buffer.alloc(0) });
      const vault = await store.open(VAULT);
      assert.deepEqual(vault.gcIndex.vouchingRuns().map((r) => [r.run, r.ids]), [['r2', unique.length]]);
      const id = randomBytes(32).toString('hex');
      const record = randomBytes(100);
      const sorted = [...unique].sort(Buffer.compare);
      const upload = Buffer.concat([Buffer.from([0, 0, 0, record.length]), record, ...sorted]);
      assert.equal((await request(store, 'r2', 'putSnapshot', upload, id)).status, 201);
      assert.deepEqual(vault.gcIndex.vouchingRuns(), [], 'the commit left vouches');
      await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id });
      assert.equal(((await h.gc!({})) as GcResult).chunksDeleted, 0, 'a chunk the new snapshot names was collected');
      await h.deleteSnapshot!({ vault: VAULT, snapshot: id });
      const freed = (await h.gc!({})) as GcResult;
      assert.equal(freed.chunksDeleted, unique.length, JSON.stringify(freed));
      assert.ok(freed.bytesFreed >= 0.9 * UNIQUE, JSON.stringify(freed));
      assert.ok(vault.index.lookup(unique).every((p) => p === undefined));
    });
    await assertIntact(f);
  });

  it('spares what a run without its snapshot yet was told is present, until it has been silent past the idle time', async () => {
    const f = await twoSnapshots();
    const unique = uniqueToFirst(f);
    assert.ok(unique.length >= 4);
    process.env.CAIRN_TEST_GC_VOUCH_IDLE_MS = '1500';
    try {
      await withHandlers(f, {}, async (h, store) => {
        const vault = await store.open(VAULT);
        const present = async (run: string, ids: Buffer[]) => assert.deepEqual((await request(store, run, 'missing', Buffer.concat(ids))).body, Buffer.alloc(0));
        await present('failed', unique.slice(0, 1));
        await present('talking', unique.slice(1, 2));
        await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id });
        await h.gc!({});
        assert.ok(vault.index.lookup(unique.slice(0, 2)).every((p) => p !== undefined), 'a vouched chunk was collected');
        assert.ok(vault.index.lookup(unique.slice(2)).every((p) => p === undefined), 'unvouched unreferenced chunks were kept');
        await sleep(900);
        assert.equal((await request(store, 'talking', 'getVault', Buffer.alloc(0))).status, 200); // any request keeps the run alive
        await sleep(900);
        await h.gc!({});
        assert.equal(vault.index.lookup(unique.slice(0, 1))[0], undefined, 'the silent run still protects its chunk');
        assert.notEqual(vault.index.lookup(unique.slice(1, 2))[0], undefined, 'the talking run lost its chunk');
        assert.deepEqual(vault.gcIndex.vouchingRuns().map((r) => r.run), ['talking']);
      });
    } finally {
      delete process.env.CAIRN_TEST_GC_VOUCH_IDLE_MS;
    }
  });

  it('spares a chunk that `missing` answered present while the gc ran', async () => {
    const f = await twoSnapshots();
    const unique = uniqueToFirst(f);
    assert.ok(unique.length >= 4);
    const reused = unique.slice(0, 2);
    await withHandlers(f, {}, async (h, store) => {
      await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id });
      await collectGarbage(store, {
        dataDir: f.dataDir,
        appendOnly: false,
        log: () => undefined,
        onPhase: async (phase, vault) => {
          if (phase === 'marked') assert.deepEqual(await missingChunks(vault, reused, 'late-run'), [], 'answered missing before the sweep');
        },
      });
      const vault = await store.open(VAULT);
      const places = vault.index.lookup(reused);
      assert.ok(places.every((p) => p !== undefined && existsSync(vault.packPath(p.pack))), 'a chunk answered present was collected');
      assert.ok(vault.index.lookup(unique.slice(2)).every((p) => p === undefined), 'unreferenced chunks were kept');
    });
  });

  it('a snapshot upload whose chunks a gc swept meanwhile fails E_UNAVAILABLE and is not stored', async () => {
    const f = await twoSnapshots();
    const refs = readFileSync(join(vaultDir(f), 'snapshots', `${f.s1.id}.refs`));
    await withHandlers(f, {}, async (h, store) => {
      await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id });
      const vault = await store.open(VAULT);
      const id = randomBytes(32).toString('hex');
      const body = Object.assign(new PassThrough(), { complete: false });
      body.once('end', () => (body.complete = true)); // as an IncomingMessage whose body arrived whole
      const upload = putSnapshot(vault, id, body as unknown as IncomingMessage);
      upload.catch(() => undefined);
      const record = randomBytes(100);
      body.write(Buffer.concat([Buffer.from([0, 0, 0, record.length]), record, refs]));
      await h.gc!({}); // sweeps what only the deleted snapshot named, the upload's refs among them
      body.end();
      await rejectsWith(upload, 'E_UNAVAILABLE', /which a garbage collection of vault gc removed while the backup ran; run the backup again/);
      assert.ok(!existsSync(join(vaultDir(f), 'snapshots', `${id}.snap`)) && !existsSync(join(vaultDir(f), 'snapshots', `${id}.refs`)));
    });
  });

  it('append-only: a deletion is a request; gc frees nothing without the code, refuses a wrong or expired one, frees with the right one once', async () => {
    const f = await twoSnapshots();
    const before = packBytes(f);
    const lines: string[] = [];
    const events: { run: number; kind: string; data: unknown }[] = [];
    const event = (run: number, kind: string, data: unknown) => events.push({ run, kind, data });
    await withHandlers(f, { appendOnly: true, log: (l) => lines.push(l), event }, async (h) => {
      assert.deepEqual(await h.deleteSnapshot!({ vault: VAULT, snapshot: f.s1.id }), { requested: true });
      assert.ok(existsSync(join(vaultDir(f), 'snapshots', `${f.s1.id}.snap`)), 'append-only deleted a snapshot');
      assert.ok(existsSync(join(vaultDir(f), 'deletions', f.s1.id)));

      await rejectsWith(h.gc!({ run: 'five' }), 'E_BAD_REQUEST', /^gc: run must be a run id$/);
      const marked = (await h.gc!({ run: 5 })) as GcResult;
      assert.equal(marked.confirmationNeeded, true);
      // the run hears its phases and a line per vault, never the code (it stays on this machine)
      assert.deepEqual(events.filter((e) => e.kind === 'progress').map((e) => e.data), [
        { phase: 'marking', currentPath: `vault ${VAULT}` },
        { phase: 'sweeping', currentPath: `vault ${VAULT}` },
      ]);
      assert.deepEqual(events.filter((e) => e.kind === 'log').map((e) => e.data), [{ level: 'info', message: `vault ${VAULT}: ${marked.chunksDeleted} chunks, ${marked.bytesFreed} bytes could be freed` }]);
      assert.ok(events.every((e) => e.run === 5));
      assert.ok(marked.bytesFreed >= 0.9 * UNIQUE, JSON.stringify(marked));
      assert.equal(packBytes(f), before, 'a gc without the code freed space');
      const confirmFile = join(f.dataDir, 'gc-confirm');
      assert.equal(statSync(confirmFile).mode & 0o777, 0o600);
      const code = readFileSync(confirmFile, 'utf8').trim();
      assert.ok(lines.some((l) => l.includes(code)), 'the code is not in the log');
      assert.ok(!JSON.stringify(events).includes(code), 'the code went to the backup server');

      for (const wrong of ['wrong-code', `${code}x`])
        await rejectsWith(h.gc!({ confirm: wrong }), 'E_FORBIDDEN', /^gc confirmation code is wrong or expired$/);
      process.env.CAIRN_TEST_GC_CONFIRM_MS = '0';
      await h.gc!({});
      delete process.env.CAIRN_TEST_GC_CONFIRM_MS;
      const expired = readFileSync(confirmFile, 'utf8').trim();
      await rejectsWith(h.gc!({ confirm: expired }), 'E_FORBIDDEN', /wrong or expired/);
      await rejectsWith(h.gc!({ confirm: code }), 'E_FORBIDDEN', /wrong or expired/); // replaced by the newer marking
      assert.equal(packBytes(f), before, 'a refused code freed space');
      assert.ok(existsSync(join(vaultDir(f), 'snapshots', `${f.s1.id}.snap`)));

      await h.gc!({});
      const good = readFileSync(confirmFile, 'utf8').trim();
      const freed = (await h.gc!({ confirm: good })) as GcResult;
      const drop = before - packBytes(f);
      assert.ok(drop >= 0.9 * UNIQUE, `dropped ${drop}`);
      assert.ok(Math.abs(freed.bytesFreed - drop) <= MiB, `bytesFreed ${freed.bytesFreed}, dropped ${drop}`);
      assert.equal(freed.confirmationNeeded, undefined);
      assert.ok(!existsSync(confirmFile), 'a spent code stays on disk');
      await rejectsWith(h.gc!({ confirm: good }), 'E_FORBIDDEN', /wrong or expired/);

      const oldKeyFile = JSON.parse(readFileSync(join(vaultDir(f), 'vault.json'), 'utf8')).keyFile;
      await h.replaceKeyFile!({ vault: VAULT, keyFile: await wrapKeys(keys, 'new passphrase') });
      const kept = readdirSync(join(vaultDir(f), 'keyfiles'));
      assert.equal(kept.length, 1);
      assert.deepEqual(JSON.parse(readFileSync(join(vaultDir(f), 'keyfiles', kept[0]!), 'utf8')), oldKeyFile);
    });
    await assertIntact(f);
  });
});

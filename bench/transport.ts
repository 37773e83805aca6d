// Data-plane transport benchmark: uploads packs of random sealed blobs with putPack and reads
// them back with getBlobs (batched as a restore does), against a real `bin/cairn storage start`
// child, and prints MB/s and the CPU seconds of the client (this process) and of the server
// (its /proc/PID/stat utime+stime). Usage: node bench/transport.ts [MiB=512] [read rounds=2]
// (CAIRN_BIN=path/to/bin/cairn runs another checkout's server.)
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StorageClient } from '../src/agent/storage-client.ts';
import { type Batch, batchChunks, type BlobSource, type Fetched, fetchOne } from '../src/agent/restore/blob-fetcher.ts';
import { PackBuilder } from '../src/core/pack.ts';
import { randomPack, testVaultConfig } from '../test/support/storage-fixtures.ts';
import { startStorage } from '../test/support/storage-process.ts';

const MIB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 512);
const readRounds = Number(process.argv[3] ?? 2);
const PACK_MIB = 16;
const BLOB_SIZES = [256 * 1024, 700 * 1024, MIB, 1.5 * MIB, 2.5 * MIB]; // around the chunker's 1 MiB average

/**
 * The blobs of every batch, in order, with up to `ahead` requests started beyond the one being
 * read, on this one thread: the transport alone, without the restore's workers.
 */
async function* fetchBatches<F>(
  source: BlobSource,
  vault: string,
  batches: AsyncIterable<Batch<F>>,
  ahead: number,
): AsyncGenerator<Fetched<F>> {
  type Started = { it: AsyncIterator<Fetched<F>>; first: Promise<IteratorResult<Fetched<F>>> };
  const started: Started[] = [];
  const input = batches[Symbol.asyncIterator]();
  let inputDone = false;
  const fill = async () => {
    while (!inputDone && started.length <= ahead) {
      const r = await input.next();
      if (r.done) {
        inputDone = true;
        break;
      }
      const it = fetchOne(source, vault, r.value);
      const first = it.next();
      first.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled meanwhile
      started.push({ it, first });
    }
  };
  try {
    await fill();
    while (started.length) {
      const { it, first } = started.shift()!;
      let r = await first;
      await fill();
      while (!r.done) {
        yield r.value;
        r = await it.next();
      }
    }
  } finally {
    for (const s of started) await s.it.return?.(undefined).catch(() => undefined);
  }
}

/** CPU seconds (user + system) of process `pid` so far. */
function serverCpu(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }; // utime, stime (fields 14, 15) in ticks of 1/100 s
}

function clientCpu(): { user: number; system: number } {
  const u = process.cpuUsage();
  return { user: u.user / 1e6, system: u.system / 1e6 };
}

type Cpu = { user: number; system: number };
const since = (a: Cpu, b: Cpu): Cpu => ({ user: b.user - a.user, system: b.system - a.system });
const showCpu = (c: Cpu, gib: number) =>
  `${(c.user + c.system).toFixed(2)} CPU-s (${((c.user + c.system) / gib).toFixed(2)}/GiB, sys ${c.system.toFixed(2)})`;

/** Times `run` and prints its rate and both sides' CPU. */
async function measure(what: string, bytes: number, pid: number, run: () => Promise<void>) {
  const [t0, c0, s0] = [performance.now(), clientCpu(), serverCpu(pid)];
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const [client, server] = [since(c0, clientCpu()), since(s0, serverCpu(pid))];
  const gib = bytes / 1024 ** 3;
  console.log(
    `${what.padEnd(9)} ${(bytes / MIB / seconds).toFixed(0).padStart(5)} MiB/s  ${seconds.toFixed(2)} s  ` +
      `client ${showCpu(client, gib)}  server ${showCpu(server, gib)}`,
  );
}

function makePacks() {
  const packs: { name: string; buffers: Buffer[]; size: number; ids: Buffer[]; bytes: number }[] = [];
  let made = 0;
  for (let n = 0; made < totalMiB * MIB; n++) {
    const builder = new PackBuilder();
    const ids: Buffer[] = [];
    let bytes = 0;
    for (let i = 0; bytes < (PACK_MIB - 3) * MIB; i++) {
      const sealed = randomBytes(BLOB_SIZES[(n + i) % BLOB_SIZES.length]!);
      sealed[0] = 1;
      const id = randomBytes(32);
      builder.add(0, id, sealed);
      ids.push(id);
      bytes += sealed.length;
    }
    const { name, buffers, size } = builder.finish();
    packs.push({ name, buffers, size, ids, bytes });
    made += size;
  }
  return packs;
}

const server = await startStorage();
const pid = server.process.pid!;
console.log(`client pid ${process.pid}, server pid ${pid}`);
const client = new StorageClient({
  url: server.url,
  ca: readFileSync(server.caFile, 'utf8'),
  accessKey: readFileSync(server.accessKeyFile, 'utf8').trim(),
});
try {
  await client.createVault('bench', await testVaultConfig());
  // Warm the connection and both processes' code paths.
  const warm = randomPack(8, 64 * 1024);
  await client.putPack('bench', warm.name, warm.buffers, warm.size);
  for await (const _ of client.getBlobs('bench', warm.blobs.map((b) => b.id)));

  const packs = makePacks();
  const packBytes = packs.reduce((n, p) => n + p.size, 0);
  await measure('putPack', packBytes, pid, async () => {
    // Two uploads at a time, as the backup's uploader does.
    let next = 0;
    const lane = async () => {
      while (next < packs.length) {
        const p = packs[next++]!;
        await client.putPack('bench', p.name, p.buffers, p.size);
      }
    };
    await Promise.all([lane(), lane()]);
  });

  const ids = packs.flatMap((p) => p.ids);
  const blobBytes = packs.reduce((n, p) => n + p.bytes, 0);
  packs.length = 0; // let the upload buffers go before reading back
  async function* oneBatchSource() {
    yield { ids, size: blobBytes };
  }
  for (let round = 0; round < readRounds; round++) {
    await measure('getBlobs', blobBytes, pid, async () => {
      // Batches of 32 MiB with two requests ahead, as each of a restore's workers asks.
      const batches = batchChunks(oneBatchSource(), (f) => f, { maxIds: 4096, maxBytes: 32 * MIB });
      let got = 0;
      for await (const f of fetchBatches(client, 'bench', batches, 2)) if ('sealed' in f) got += f.sealed.length;
      if (got !== blobBytes) throw new Error(`read back ${got} bytes, expected ${blobBytes}`);
    });
  }
  console.log(`client peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  client.close();
  await server.stop();
}

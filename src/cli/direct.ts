// `cairn direct …`: the agent's data path against a standalone storage server, without the
// backup server (as restic or borg are used). Keys are unwrapped from the vault with the
// passphrase on every run; nothing secret is written to disk.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { listSnapshots, loadSnapshot } from '../agent/snapshots.ts';
import { StorageClient } from '../agent/storage-client.ts';
import { checkChunkerParams, DEFAULT_CHUNKER } from '../core/chunker.ts';
import { CairnError } from '../core/errors.ts';
import { generateVaultKeys, parseKeyFile, unwrapKeys, wrapKeys } from '../core/keys.ts';
import type { SnapshotRecord } from '../core/snapshot.ts';
import { type Command, type Options, parseSize, readSecret, requireString } from './command.ts';
import { printJson, printTable } from './output.ts';

const connection: Options = {
  storage: { type: 'string' },
  ca: { type: 'string' },
  fingerprint: { type: 'string' },
  'access-key-file': { type: 'string' },
  vault: { type: 'string' },
  'passphrase-stdin': { type: 'boolean' },
  json: { type: 'boolean' },
};

const connectionHelp: Record<string, string> = {
  storage: "the storage server's https URL (required)",
  ca: "the storage server's CA certificate file (or --fingerprint)",
  fingerprint: "the storage server's certificate fingerprint, SHA-256 hex (or --ca)",
  'access-key-file': "a file holding the storage server's access key (required)",
  vault: 'the vault (required)',
  'passphrase-stdin': "read the vault's passphrase from stdin (else CAIRN_PASSPHRASE)",
  json: 'print one JSON document instead of text',
};
const CONNECTION_USAGE = '--storage URL (--ca FILE | --fingerprint HEX) --access-key-file FILE --vault V [--passphrase-stdin] [--json]';
const CONNECTION_EXAMPLE = '--storage https://nas:7351 --ca ca.pem --access-key-file key --vault home';

type Values = Record<string, unknown>;

function clientOf(values: Values, cmd: string): { client: StorageClient; vault: string } {
  const url = requireString(values, 'storage', cmd);
  const vault = requireString(values, 'vault', cmd);
  const keyFile = requireString(values, 'access-key-file', cmd);
  const caFile = values.ca as string | undefined;
  const fingerprint = values.fingerprint as string | undefined;
  if (!caFile && !fingerprint) throw new CairnError('E_USAGE', `${cmd}: --ca FILE or --fingerprint HEX is required`);
  const accessKey = readFileOrUsage(keyFile, 'access-key-file', cmd).trim();
  const ca = caFile ? readFileOrUsage(caFile, 'ca', cmd) : undefined;
  return { client: new StorageClient({ url, ca, fingerprint, accessKey }), vault };
}

function readFileOrUsage(file: string, flag: string, cmd: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CairnError('E_USAGE', `${cmd}: --${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/** The vault's config, and its keys on their way: the passphrase derivation runs in the
 * thread pool while the caller loads modules and fetches snapshot records. */
async function startOpenVault(values: Values, cmd: string) {
  const { client, vault } = clientOf(values, cmd);
  const passphrase = await readSecret(values['passphrase-stdin'] === true, 'CAIRN_PASSPHRASE', 'passphrase');
  const config = (await client.getVault(vault)) as { chunker: unknown; keyFile: unknown };
  const chunker = checkChunkerParams(config.chunker);
  const keys = unwrapKeys(parseKeyFile(config.keyFile), passphrase);
  keys.catch(() => undefined); // the caller awaits it; this only keeps an early failure from going unhandled
  return { client, vault, keys, chunker };
}

async function openVault(values: Values, cmd: string) {
  const v = await startOpenVault(values, cmd);
  return { ...v, keys: await v.keys };
}

function workersOf(values: Values, cmd: string): number | undefined {
  if (values.workers === undefined) return undefined;
  const workers = Number(values.workers);
  if (!(Number.isInteger(workers) && workers > 0 && workers <= 64))
    throw new CairnError('E_USAGE', `${cmd}: --workers must be an integer from 1 to 64`);
  return workers;
}

function snapshotRow(s: SnapshotRecord) {
  return { id: s.id, time: s.time, host: s.host, paths: s.paths, ...s.summary };
}

const init: Command = {
  name: 'direct init',
  summary: 'create a vault on a storage server (keys wrapped by the passphrase)',
  usage: `${CONNECTION_USAGE} [--chunk-min SIZE] [--chunk-avg SIZE] [--chunk-max SIZE]`,
  example: `direct init ${CONNECTION_EXAMPLE} --passphrase-stdin`,
  help: {
    ...connectionHelp,
    'chunk-min': 'the smallest chunk (default 256K)',
    'chunk-avg': 'the average chunk (default 1M)',
    'chunk-max': 'the largest chunk (default 4M)',
  },
  options: {
    ...connection,
    'chunk-min': { type: 'string' },
    'chunk-avg': { type: 'string' },
    'chunk-max': { type: 'string' },
  },
  async run({ values }) {
    const { client, vault } = clientOf(values, 'direct init');
    const size = (flag: string, fallback: number) => (values[flag] ? parseSize(values[flag] as string, flag) : fallback);
    const chunker = checkChunkerParams({
      min: size('chunk-min', DEFAULT_CHUNKER.min),
      avg: size('chunk-avg', DEFAULT_CHUNKER.avg),
      max: size('chunk-max', DEFAULT_CHUNKER.max),
    });
    const passphrase = await readSecret(values['passphrase-stdin'] === true, 'CAIRN_PASSPHRASE', 'passphrase');
    if (passphrase.length < 8) throw new CairnError('E_USAGE', 'direct init: the passphrase must have at least 8 characters');
    const keyFile = await wrapKeys(generateVaultKeys(), passphrase);
    await client.createVault(vault, { version: 1, chunker, keyFile });
    if (values.json) printJson({ vault, chunker });
    else process.stdout.write(`created vault ${vault}\n`);
    return 0;
  },
};

const backupCmd: Command = {
  name: 'direct backup',
  summary: 'back up paths into a vault',
  usage: `PATH… ${CONNECTION_USAGE} [--parent latest|none|ID] [--force-read] [--workers N]`,
  example: `direct backup /home/ann ${CONNECTION_EXAMPLE}`,
  help: {
    ...connectionHelp,
    parent: "the snapshot unchanged files are compared with: latest (default; this host's newest of the same paths), none or an id",
    'force-read': 'read every file, even an unchanged one',
    workers: 'chunking threads, 1 to 64 (default the number of CPUs)',
  },
  options: {
    ...connection,
    parent: { type: 'string' },
    'force-read': { type: 'boolean' },
    workers: { type: 'string' },
  },
  positionals: [1, 64],
  async run({ values, positionals }) {
    const paths = positionals.map((p) => path.resolve(p));
    for (const p of paths) {
      if (!fs.existsSync(p)) throw new CairnError('E_USAGE', `direct backup: no such path: ${p}`);
    }
    const workers = workersOf(values, 'direct backup');
    const started = performance.now();
    const v = await startOpenVault(values, 'direct backup');
    const [keys, parent, { backup }] = await Promise.all([
      v.keys,
      pickParent(v, (values.parent as string | undefined) ?? 'latest', paths),
      import('../agent/backup/archiver.ts'),
    ]);
    const result = await backup({ ...v, keys, paths, host: os.hostname(), parent, forceRead: values['force-read'] === true, workers });
    const seconds = (performance.now() - started) / 1000;
    const s = result.snapshot;
    if (values.json) printJson({ snapshot: s.id, parent: s.parent ?? null, ...s.summary, warnings: result.warnings, seconds });
    else {
      for (const w of result.warnings) process.stderr.write(`warning: ${w.path}: ${w.reason}\n`);
      process.stdout.write(
        `snapshot ${s.id}: ${s.summary.files} files, ${s.summary.bytes} bytes, ${s.summary.filesChanged} read, ${s.summary.bytesNew} new bytes stored in ${seconds.toFixed(2)} s\n`,
      );
    }
    return 0;
  },
};

/** The reference snapshot: `none`, an id, or `latest` (the newest from this host with the same paths). */
async function pickParent(
  v: Awaited<ReturnType<typeof startOpenVault>>,
  parent: string,
  paths: string[],
): Promise<SnapshotRecord | undefined> {
  if (parent === 'none') return undefined;
  if (parent !== 'latest') return loadSnapshot(v.client, v.vault, v.keys, parent);
  const host = os.hostname();
  const key = JSON.stringify([...paths].sort());
  const all = await listSnapshots(v.client, v.vault, v.keys);
  return all.find((s) => s.host === host && JSON.stringify([...s.paths].sort()) === key);
}

const restoreCmd: Command = {
  name: 'direct restore',
  summary: 'restore a snapshot (files land at DIR + their original path)',
  usage: `SNAPSHOT ${CONNECTION_USAGE} --to DIR [--include PATH …] [--workers N]`,
  example: `direct restore 0123abcd ${CONNECTION_EXAMPLE} --to /tmp/restored`,
  help: {
    ...connectionHelp,
    to: 'the folder files land under, at their original paths (required)',
    include: 'an absolute path to restore (default everything)',
    workers: 'threads fetching and decrypting, 1 to 64 (default the number of CPUs less one, at least 1)',
  },
  options: { ...connection, to: { type: 'string' }, include: { type: 'string', multiple: true }, workers: { type: 'string' } },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const to = path.resolve(requireString(values, 'to', 'direct restore'));
    const workers = workersOf(values, 'direct restore'); // usage errors before any key derivation
    const include = ((values.include as string[] | undefined) ?? []).map((p) => {
      if (!path.isAbsolute(p)) throw new CairnError('E_USAGE', `direct restore: --include takes absolute paths: ${p}`);
      return path.normalize(p);
    });
    const started = performance.now();
    const v = await startOpenVault(values, 'direct restore');
    const [keys, snapshot, { restore }] = await Promise.all([
      v.keys,
      loadSnapshot(v.client, v.vault, v.keys, positionals[0]!),
      import('../agent/restore/restorer.ts'),
    ]);
    const result = await restore({
      client: v.client,
      vault: v.vault,
      keys,
      snapshot,
      target: to,
      include: include.length ? include : undefined,
      workers,
    });
    const seconds = (performance.now() - started) / 1000;
    if (values.json) printJson({ snapshot: snapshot.id, ...result, seconds });
    else {
      for (const d of result.damaged) process.stderr.write(`damaged: ${d.path}: ${d.reason}\n`);
      process.stdout.write(`restored ${result.files} files, ${result.bytes} bytes to ${to} in ${seconds.toFixed(2)} s\n`);
    }
    return result.damaged.length ? 1 : 0;
  },
};

const snapshotsCmd: Command = {
  name: 'direct snapshots',
  summary: 'list the snapshots in a vault, newest first',
  usage: CONNECTION_USAGE,
  example: `direct snapshots ${CONNECTION_EXAMPLE}`,
  help: connectionHelp,
  options: connection,
  async run({ values }) {
    const v = await openVault(values, 'direct snapshots');
    const rows = (await listSnapshots(v.client, v.vault, v.keys)).map(snapshotRow);
    if (values.json) printJson(rows);
    else printTable(rows.map((r) => ({ id: r.id.slice(0, 16), time: r.time, host: r.host, files: r.files, bytes: r.bytes, paths: r.paths.join(' ') })));
    return 0;
  },
};

const scrubCmd: Command = {
  name: 'direct scrub',
  summary: 'ask the storage server to re-hash every pack of a vault (no keys needed)',
  usage: CONNECTION_USAGE,
  example: `direct scrub ${CONNECTION_EXAMPLE}`,
  help: {
    ...connectionHelp,
    'passphrase-stdin': 'not used: a scrub needs no keys',
  },
  options: connection,
  async run({ values }) {
    const { client, vault } = clientOf(values, 'direct scrub');
    const report = (await client.scrub(vault)) as { packs: number; bytes: number; bad: string[] };
    if (values.json) printJson(report);
    else process.stdout.write(`${report.packs} packs, ${report.bytes} bytes, ${report.bad.length} damaged${report.bad.length ? `: ${report.bad.join(' ')}` : ''}\n`);
    return report.bad.length ? 1 : 0;
  },
};

export const directCommands: Command[] = [init, backupCmd, restoreCmd, snapshotsCmd, scrubCmd];

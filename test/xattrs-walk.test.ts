// Extended attributes are read per directory as the walk reaches it, for the entries it keeps:
// a backup run by the agent code against a real standalone storage server (a recording `call`
// standing in for the backup server, as in backup-settings.test.ts), with getfattr wrapped by a
// script that logs every path it is given and then runs the real one. An excluded subtree full of
// files with attributes and a tmpfs mounted inside the path (--one-file-system) are never handed
// to getfattr, and there is no whole-tree pass: each walked directory costs one getfattr run.
//
// Memory: the reader holds one directory's path list and the attributes of those of its entries
// that have any, while the walk already holds that directory's listing (tree-walker.ts), so a
// large flat directory costs the same order of memory as its listing, and nothing is kept once
// the walk leaves it. A test measuring that at a scale where it shows (hundreds of thousands of
// files) would take minutes; the agent's VmHWM test of issue 15 covers the walk as a whole.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackup } from '../src/agent/run-backup.ts';
import { loadSnapshot } from '../src/agent/snapshots.ts';
import { StorageClient } from '../src/agent/storage-client.ts';
import { loadTree } from '../src/agent/tree-store.ts';
import { generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, newVaultId, wrapKeys } from '../src/core/keys.ts';
import type { IndexEntryWire, SnapshotIndexParams } from '../src/protocol/control.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

const keys = generateVaultKeys();
const vaultId = newVaultId();
const agentKey = generateAgentKeyPair();
const wrapped = wrapForAgent(keys, agentKey.publicKeyPem, vaultId);
const grant = `${Buffer.from(JSON.stringify({ exp: Date.now() + 3_600_000 })).toString('base64url')}.sig`;
const realGetfattr = spawnSync('sh', ['-c', 'command -v getfattr'], { encoding: 'utf8' }).stdout.trim();

describe('extended attributes read per directory during the walk', { skip: !realGetfattr && 'getfattr not installed' }, () => {
  let server: StorageProcess;
  let work: string;
  let mnt: string | undefined;

  before(async () => {
    server = await startStorage();
    const admin = new StorageClient({ url: server.url, ca: fs.readFileSync(server.caFile, 'utf8'), accessKey: accessKey() });
    await admin.createVault('v', { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'pw pw pw pw', vaultId) });
    admin.close();
    work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-xattrs-walk-')));
  });

  after(async () => {
    if (mnt) execFileSync('umount', [mnt]);
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const accessKey = () => fs.readFileSync(server.accessKeyFile, 'utf8').trim();

  it('never hands an excluded subtree or another file system to getfattr, and reads one directory at a time', async (t) => {
    const root = join(work, 'data');
    fs.mkdirSync(join(root, 'keep', 'sub'), { recursive: true });
    fs.mkdirSync(join(root, 'skip', 'deep'), { recursive: true });
    fs.mkdirSync(join(root, 'mnt'));
    fs.writeFileSync(join(root, 'keep', 'a'), 'a');
    fs.writeFileSync(join(root, 'keep', 'sub', 'b'), 'b');
    for (let i = 0; i < 300; i++) fs.writeFileSync(join(root, 'skip', 'deep', `f${i}`), `${i}`);
    if (spawnSync('setfattr', ['-n', 'user.k', '-v', 'kept', join(root, 'keep', 'a')]).status !== 0)
      return t.skip('no user xattrs here');
    const set = spawnSync('find', [join(root, 'skip'), '-exec', 'setfattr', '-n', 'user.s', '-v', 'skipped', '{}', '+']);
    assert.equal(set.status, 0, String(set.stderr));
    execFileSync('mount', ['-t', 'tmpfs', 'none', join(root, 'mnt')]);
    mnt = join(root, 'mnt');
    fs.writeFileSync(join(mnt, 'other-fs'), 'x');

    // getfattr as xargs finds it on PATH: logs each run's paths (after '--'), then the real one
    const bin = join(work, 'bin');
    const logs = join(work, 'getfattr-runs'); // a file per run: runs overlap
    fs.mkdirSync(bin);
    fs.mkdirSync(logs);
    fs.writeFileSync(
      join(bin, 'getfattr'),
      `#!/bin/sh\n{ seen=; for a; do [ -n "$seen" ] && echo "$a"; [ "$a" = -- ] && seen=1; done; } > "$(mktemp -p '${logs}')"\nexec '${realGetfattr}' "$@"\n`,
      { mode: 0o755 },
    );
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    const calls: { method: string; params: unknown }[] = [];
    let result;
    try {
      result = await runBackup(
        {
          run: 1, job: 'j', level: 'full', paths: [root], excludes: ['skip'], oneFileSystem: true,
          storage: { name: 's1', url: server.url }, vault: 'v', grant, keys: wrapped, forceRead: false,
        },
        {
          call: async (method, params) => {
            calls.push({ method, params });
            return method === 'renewGrant' ? { grant } : {};
          },
          event: () => undefined,
          agentKeyPem: agentKey.privateKeyPem,
          storageClient: () => new StorageClient({ url: server.url, ca: fs.readFileSync(server.caFile, 'utf8'), accessKey: accessKey() }),
          host: 'test-host',
          tmpDir: join(work, 'agent-tmp'),
          workers: 1,
        },
      );
    } finally {
      process.env.PATH = savedPath;
    }
    assert.deepEqual(result.warnings, []);

    const runs = fs
      .readdirSync(logs)
      .map((f) => fs.readFileSync(join(logs, f), 'utf8').split('\n').filter(Boolean).sort())
      .sort((a, b) => a[0]!.localeCompare(b[0]!)); // runs overlap the walk: any order
    assert.deepEqual(
      runs,
      [
        [root], // the path asked for, as its own root
        [join(root, 'keep'), join(root, 'mnt')], // its entries the walk keeps: not skip
        [join(root, 'keep', 'a'), join(root, 'keep', 'sub')],
        [join(root, 'keep', 'sub', 'b')],
      ],
      'one getfattr run per walked directory, never under skip/ or inside the tmpfs',
    );

    const names = calls
      .filter((c) => c.method === 'snapshotIndex')
      .flatMap((c) => (c.params as SnapshotIndexParams).entries)
      .map((e: IndexEntryWire) => Buffer.from(e.name, 'base64').toString());
    assert.ok(names.includes('a') && !names.includes('f0'), 'skip/ is left out of the backup too');

    // what getfattr found is in the snapshot: down the stored trees to keep/a
    const client = new StorageClient({ url: server.url, ca: fs.readFileSync(server.caFile, 'utf8'), accessKey: accessKey() });
    try {
      const snapshot = await loadSnapshot(client, 'v', keys, result.snapshot);
      let ids: Buffer[] = snapshot.tree.map((h) => Buffer.from(h, 'hex'));
      for (const part of [...root.split('/').slice(1), 'keep']) {
        const node = (await loadTree(client, 'v', keys, ids)).find((n) => n.name.toString() === part);
        assert.ok(node?.subtree, `${part} in the snapshot`);
        ids = node.subtree;
      }
      const a = (await loadTree(client, 'v', keys, ids)).find((n) => n.name.toString() === 'a');
      assert.deepEqual(a?.xattrs, [{ name: Buffer.from('user.k'), value: Buffer.from('kept') }]);
    } finally {
      client.close();
    }
  });
});

// A storage server in server mode as a real process: mutual TLS and a grant on every data-plane
// request, agents refused the admin routes, refused writes changing nothing, the bound port kept
// across a restart from --data alone, and the start-up usage errors. The first suite starts from
// a data folder written as enrollment leaves it (test/support/part-fixtures.ts), the vault made
// by the handler the server's createVault call runs; the last one enrolls with a real backup
// server and gets its vault over the control channel.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StorageClient, type StorageClientOptions } from '../src/agent/storage-client.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, wrapKeys } from '../src/core/keys.ts';
import { certificateFingerprint, type TlsIdentity } from '../src/core/tls.ts';
import type { VaultConfig } from '../src/protocol/data-plane.ts';
import { storageControlHandlers } from '../src/storage/control-handlers.ts';
import { initServer, type RunningServer, startServer } from '../src/server/server-daemon.ts';
import { VaultStore } from '../src/storage/vault-store.ts';
import { runCairn } from './support/cli.ts';
import { NO_BACKUP_SERVER_ENV, type TestAuthority, testAuthority, writeEnrolledStorage } from './support/part-fixtures.ts';
import { randomPack, rejectsWith, testVaultConfig, vaultUnchangedBy } from './support/storage-fixtures.ts';
import { CAIRN_BIN, type StorageProcess, startStorage } from './support/storage-process.ts';

describe('storage server with a backup server: certificates and grants', () => {
  const vault = 'home';
  let dataDir: string;
  let authority: TestAuthority;
  let storageIdentity: TlsIdentity;
  let agentIdentity: TlsIdentity;
  let config: VaultConfig;
  let server: StorageProcess;
  const clients: StorageClient[] = [];

  const grantFor = (o: { op?: 'backup' | 'restore'; vault?: string; agent?: string; exp?: number } = {}) =>
    authority.grant({ agent: o.agent ?? 'laptop', storage: 'nas', vault: o.vault ?? vault, op: o.op ?? 'backup', exp: o.exp });

  /** A client as the agent daemon makes one; `grant` is asked on every request. */
  function client(grant: () => string, o: Partial<StorageClientOptions> = {}): StorageClient {
    const c = new StorageClient({
      url: server.url,
      ca: authority.ca.certPem,
      expect: { kind: 'storage', name: 'nas' },
      identity: agentIdentity,
      grant,
      ...o,
    });
    clients.push(c);
    return c;
  }

  const unchangedBy = (action: () => Promise<unknown>) => vaultUnchangedBy(server, vault, action, 'a refused request may change nothing');

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cairn-storage-grants-'));
    authority = await testAuthority();
    storageIdentity = await writeEnrolledStorage(dataDir, authority, { name: 'nas' });
    agentIdentity = await authority.issue({ kind: 'agent', name: 'laptop' });
    config = await testVaultConfig();
    const store = new VaultStore(dataDir);
    await store.init();
    const handlers = storageControlHandlers(store);
    assert.deepEqual(await handlers.createVault!({ vault, config }), { vault, created: true });
    // the server retrying a creation whose reply was lost: accepted, nothing new
    assert.deepEqual(await handlers.createVault!({ vault, config }), { vault, created: false });
    await store.close();
    server = await startStorage({ dataDir, env: NO_BACKUP_SERVER_ENV });
  });

  after(async () => {
    for (const c of clients) c.close();
    if (server) assert.equal(await server.stop(), 0, `clean exit on SIGTERM; stderr: ${server.stderr()}`);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves with its enrolled certificate and saves the port it bound', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.fingerprint, certificateFingerprint(storageIdentity.certPem));
    const saved = JSON.parse(readFileSync(join(dataDir, 'storage.json'), 'utf8')) as { listen: string; mode: string };
    assert.equal(`https://${saved.listen}`, server.url);
    assert.equal(saved.mode, 'server');
  });

  it('lets an agent with a backup grant write and read its vault', async () => {
    const c = client(() => grantFor());
    assert.deepEqual(await c.getVault(vault), config);
    const pack = randomPack(20);
    const ids = pack.blobs.map((b) => b.id);
    assert.deepEqual(await c.missing(vault, ids), ids);
    assert.equal(await c.putPack(vault, pack.name, pack.buffers, pack.size), true);
    assert.deepEqual(await c.missing(vault, ids), []);
    const id = randomBytes(32).toString('hex');
    await c.putSnapshot(vault, id, randomBytes(100), Buffer.concat([...ids].sort(Buffer.compare)));
    assert.ok((await c.listSnapshots(vault)).includes(id));
    // a restore grant reads the same blobs back
    const reader = client(() => grantFor({ op: 'restore' }));
    const got: Buffer[] = [];
    for await (const b of reader.getBlobs(vault, ids)) got.push(b.sealed);
    assert.deepEqual(got, pack.blobs.map((b) => b.sealed));
  });

  it('refuses clients without a certificate from the CA (401), and nothing is stored', async () => {
    const pack = randomPack(3);
    const noCert = client(() => grantFor(), { identity: undefined });
    await unchangedBy(() => rejectsWith(noCert.putPack(vault, pack.name, pack.buffers, pack.size), 'E_UNAUTHORIZED', /client certificate from the server's CA required/));
    const stranger = await testAuthority();
    const foreign = client(() => grantFor(), { identity: await stranger.issue({ kind: 'agent', name: 'laptop' }) });
    await unchangedBy(() => rejectsWith(foreign.putPack(vault, pack.name, pack.buffers, pack.size), 'E_UNAUTHORIZED', /client certificate/));
    await rejectsWith(foreign.getVault(vault), 'E_UNAUTHORIZED', /client certificate/);
  });

  it('refuses grants for another vault, another agent, a read-only op, or expired (403), and nothing is stored', async () => {
    const pack = randomPack(3);
    const put = (grant: string) => client(() => grant).putPack(vault, pack.name, pack.buffers, pack.size);
    await unchangedBy(async () => {
      await rejectsWith(put(grantFor({ vault: 'other' })), 'E_FORBIDDEN', /for vault other, not home/);
      await rejectsWith(put(grantFor({ agent: 'desktop' })), 'E_FORBIDDEN', /for agent desktop, not laptop/);
      await rejectsWith(put(grantFor({ op: 'restore' })), 'E_FORBIDDEN', /restore grant does not allow writes/);
      await rejectsWith(put(grantFor({ exp: Date.now() - 120_000 })), 'E_FORBIDDEN', /expired/);
      const snapshot = randomBytes(32).toString('hex');
      const restoring = client(() => grantFor({ op: 'restore' }));
      await rejectsWith(restoring.putSnapshot(vault, snapshot, randomBytes(10), Buffer.alloc(0)), 'E_FORBIDDEN', /does not allow writes/);
    });
    await rejectsWith(client(() => grantFor({ vault: 'other' })).getVault(vault), 'E_FORBIDDEN', /for vault other/);
  });

  it('refuses vault creation and scrub to agents whatever their grant', async () => {
    const c = client(() => grantFor());
    await rejectsWith(c.createVault('fresh', config), 'E_FORBIDDEN', /agents may not create or scrub vaults/);
    assert.equal(existsSync(join(dataDir, 'vaults', 'fresh')), false);
    await rejectsWith(c.scrub(vault), 'E_FORBIDDEN', /agents may not/);
  });

  it('sends the grant current at each request (a renewed grant takes effect)', async () => {
    let current = grantFor({ op: 'restore' });
    const c = client(() => current);
    const pack = randomPack(2);
    await rejectsWith(c.putPack(vault, pack.name, pack.buffers, pack.size), 'E_FORBIDDEN', /does not allow writes/);
    current = grantFor({ op: 'backup' });
    assert.equal(await c.putPack(vault, pack.name, pack.buffers, pack.size), true);
  });

  it('checks the storage server is the part it expects', async () => {
    const c = client(() => grantFor(), { expect: { kind: 'storage', name: 'other-nas' } });
    await rejectsWith(c.getVault(vault), 'E_UNAUTHORIZED', /cairn-storage:nas, expected cairn-storage:other-nas|certificate not trusted/);
  });

  it('restarts from --data alone at the same address', async () => {
    const url = server.url;
    assert.equal(await server.stop(), 0, server.stderr());
    server = await startStorage({ dataDir, listen: null, env: NO_BACKUP_SERVER_ENV });
    assert.equal(server.url, url);
    assert.ok(existsSync(join(dataDir, 'vaults', vault, 'vault.json')));
    assert.deepEqual(await client(() => grantFor()).getVault(vault), config);
  });
});

describe('storage start: usage errors', () => {
  const noToken = { CAIRN_TOKEN: '' };
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-storage-usage-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses --backend s3:// as not supported yet', async () => {
    const r = await runCairn(['storage', 'start', '--data', dir, '--listen', '127.0.0.1:0', '--backend', 's3://bucket/x'], noToken);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--backend s3:\/\/bucket\/x: not supported yet/);
  });

  it('refuses --server without a token and without an enrollment, and --token without --server', async () => {
    const args = ['storage', 'start', '--data', dir, '--listen', '127.0.0.1:0'];
    const r = await runCairn([...args, '--server', 'https://127.0.0.1:9', '--name', 'nas'], noToken);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--server needs --token/);
    const t = await runCairn([...args, '--token', 'cairn1.x'], noToken);
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /--token needs --server/);
    assert.equal(existsSync(join(dir, 'storage.json')), false, 'a refused start saves nothing');
    assert.equal(existsSync(join(dir, 'lock')), false);
  });
});

/** `cairn storage start ARGS` as a child; resolves once it printed its URL and fingerprint. */
async function spawnStorage(args: string[]) {
  const child: ChildProcess = spawn(CAIRN_BIN, ['storage', 'start', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CAIRN_TOKEN: '' },
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const check = () => {
    for (const w of [...waiters]) {
      if (!w.re.test(stderr)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    check();
  });
  const lines = new Promise<string[]>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const got = stdout.split('\n');
      if (got.length > 2) resolve(got.slice(0, 2));
    });
    void exited.then((code) => reject(new Error(`storage exited ${code}: ${stderr}`)));
  });
  const [url, fingerprint] = await lines;
  return {
    url: url!,
    fingerprint: fingerprint!.replace(/^fingerprint /, ''),
    stderr: () => stderr,
    /** resolves when stderr (from the start) matches */
    stderrMatches: (re: RegExp) =>
      new Promise<void>((resolve) => {
        waiters.push({ re, resolve });
        check();
      }),
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('storage server enrolling with a real backup server', () => {
  let serverDir: string;
  let dataDir: string;
  let backup: RunningServer;
  let apiToken: string;

  function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, backup.url), {
        method,
        ca: backup.caPem,
        headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  before(async () => {
    serverDir = mkdtempSync(join(tmpdir(), 'cairn-grants-server-'));
    dataDir = mkdtempSync(join(tmpdir(), 'cairn-grants-storage-'));
    await initServer({ dataDir: serverDir, adminPassword: 'a long test password' });
    backup = await startServer({ dataDir: serverDir, listen: '127.0.0.1:0', log: () => undefined });
    apiToken = await backup.local.apiToken('admin');
  });

  after(async () => {
    await backup?.stop();
    rmSync(serverDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('enrolls with a token, comes online, creates a vault when the server asks, and restarts from --data alone', async () => {
    const token = await backup.local.partToken('storage', 'admin');
    const first = await spawnStorage(['--data', dataDir, '--listen', '127.0.0.1:0', '--server', backup.url, '--token', token, '--name', 'nas']);
    await first.stderrMatches(/control: online/);
    assert.equal(statSync(join(dataDir, 'tls', 'key.pem')).mode & 0o777, 0o600);
    assert.equal(first.fingerprint, certificateFingerprint(readFileSync(join(dataDir, 'tls', 'cert.pem'))));
    // a part is known by the identity its certificate names; only the server's own leaf names hosts
    const leaf = new X509Certificate(readFileSync(join(dataDir, 'tls', 'cert.pem')));
    assert.equal(leaf.subject, 'CN=cairn-storage:nas');
    assert.equal(leaf.subjectAltName, undefined);
    assert.equal(readFileSync(join(dataDir, 'ca.pem'), 'utf8').trim(), backup.caPem.trim());
    assert.ok(readFileSync(join(dataDir, 'grant-key.pub.pem'), 'utf8').includes('PUBLIC KEY'));
    const saved = JSON.parse(readFileSync(join(dataDir, 'storage.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(saved, { name: 'nas', listen: first.url.replace('https://', ''), mode: 'server', server: backup.url });
    const listed = JSON.parse((await api('GET', '/api/storages')).body) as { name: string; status: string; address: string }[];
    assert.deepEqual(listed.map((p) => [p.name, p.status, p.address]), [['nas', 'online', first.url]]);

    const keyFile = await wrapKeys(generateVaultKeys(), 'a vault passphrase');
    const created = await api('POST', '/api/vaults', { name: 'v1', storage: 'nas', chunker: DEFAULT_CHUNKER, keyFile });
    assert.equal(created.status, 201, created.body);
    const onDisk = JSON.parse(readFileSync(join(dataDir, 'vaults', 'v1', 'vault.json'), 'utf8')) as { keyFile: unknown };
    assert.deepEqual(onDisk.keyFile, keyFile);
    assert.equal(await first.stop(), 0, first.stderr());

    // the token was used: another folder cannot enroll with it, and keeps nothing
    const other = mkdtempSync(join(tmpdir(), 'cairn-grants-other-'));
    try {
      const refused = await runCairn(['storage', 'start', '--data', other, '--listen', '127.0.0.1:0', '--server', backup.url, '--token', token, '--name', 'nas2'], { CAIRN_TOKEN: '' });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /enrollment token was already used/);
      assert.equal(existsSync(join(other, 'storage.json')), false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }

    const again = await spawnStorage(['--data', dataDir]);
    assert.equal(again.url, first.url);
    await again.stderrMatches(/control: online/);
    assert.equal(await again.stop(), 0, again.stderr());
  });
});

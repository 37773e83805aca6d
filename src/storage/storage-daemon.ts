// Starting and stopping a storage server from its data directory: the directory lock (one
// process per directory), storage.json (name, listen address, mode), the TLS identity and the
// standalone access key (made at first start, reused after), the vault store and the data plane.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { certificateFingerprint, type TlsIdentity } from '../core/tls.ts';
import { standaloneAuthorizer } from './authorize.ts';
import { createDataPlaneServer } from './data-plane-server.ts';
import { lockDataDir } from '../core/data-dir-lock.ts';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { VaultStore } from './vault-store.ts';

export type StorageSettings = { name: string; listen: string; mode: 'standalone' };

export type RunningStorage = {
  url: string;
  fingerprint: string;
  dataDir: string;
  /** Stops accepting, lets in-flight requests finish, closes the vaults, releases the lock. */
  stop: () => Promise<void>;
};

/** Splits HOST:PORT (IPv6 as [::1]:PORT). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new CairnError('E_USAGE', `--listen: want HOST:PORT, got ${text}`);
  return { host: (m[1] ?? m[2])!, port };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(e, `reading ${path}`);
  }
}

async function loadSettings(dataDir: string, listen: string | undefined): Promise<StorageSettings> {
  const path = join(dataDir, 'storage.json');
  const text = await readOptional(path);
  const saved = text === undefined ? undefined : (JSON.parse(text) as Partial<StorageSettings>);
  const chosen = listen ?? saved?.listen;
  if (chosen === undefined) throw new CairnError('E_USAGE', 'storage start: --listen HOST:PORT is required at first start');
  parseListen(chosen);
  const settings: StorageSettings = {
    name: saved?.name ?? `${hostname()}-${randomBytes(3).toString('hex')}`,
    listen: chosen,
    mode: 'standalone',
  };
  if (JSON.stringify(settings) !== JSON.stringify(saved)) await writeFileAtomic(path, `${JSON.stringify(settings, null, 2)}\n`);
  return settings;
}

async function loadIdentity(dataDir: string, settings: StorageSettings): Promise<TlsIdentity> {
  const dir = join(dataDir, 'tls');
  const [keyPem, certPem] = await Promise.all([readOptional(join(dir, 'key.pem')), readOptional(join(dir, 'cert.pem'))]);
  if (keyPem !== undefined && certPem !== undefined) return { keyPem, certPem };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // loaded only here: generating a certificate is the one place that needs @peculiar/x509
  const { generateSelfSignedIdentity } = await import('../core/certificates.ts');
  const identity = await generateSelfSignedIdentity(`cairn storage ${settings.name}`, [parseListen(settings.listen).host]);
  await writeFileAtomic(join(dir, 'key.pem'), identity.keyPem, { mode: 0o600 });
  await writeFileAtomic(join(dir, 'cert.pem'), identity.certPem);
  return identity;
}

async function loadAccessKey(dataDir: string): Promise<string> {
  const path = join(dataDir, 'access-key');
  const saved = (await readOptional(path))?.trim();
  if (saved) return saved;
  const key = randomBytes(32).toString('hex');
  await writeFileAtomic(path, `${key}\n`, { mode: 0o600 });
  return key;
}

function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new CairnError('E_UNAVAILABLE', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, { cause: e })),
    );
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

export async function startStorage(options: { dataDir: string; listen?: string }): Promise<RunningStorage> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fromSystemError(e, `creating ${dataDir}`);
  });
  const unlock = await lockDataDir(dataDir, 'storage');
  let store: VaultStore | undefined;
  try {
    const settings = await loadSettings(dataDir, options.listen);
    const identity = await loadIdentity(dataDir, settings);
    const accessKey = await loadAccessKey(dataDir);
    store = new VaultStore(dataDir);
    await store.init();
    const server = createDataPlaneServer({ identity, store, authorize: standaloneAuthorizer(accessKey) });
    const { host, port } = parseListen(settings.listen);
    const address = await listenOn(server, host, port);
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const vaults = store;
    let stopping: Promise<void> | undefined;
    return {
      url: `https://${shownHost}:${address.port}`,
      fingerprint: certificateFingerprint(identity.certPem),
      dataDir,
      stop: () => {
        stopping ??= (async () => {
          const closed = new Promise<void>((res) => server.close(() => res()));
          // In-flight requests finish; keep-alive connections are closed as soon as they go idle,
          // and anything still open after 30 s is cut.
          const idle = setInterval(() => server.closeIdleConnections(), 100);
          const deadline = setTimeout(() => server.closeAllConnections(), 30_000);
          server.closeIdleConnections();
          await closed;
          clearInterval(idle);
          clearTimeout(deadline);
          await vaults.close();
          await unlock();
        })();
        return stopping;
      },
    };
  } catch (e) {
    await store?.close();
    await unlock();
    throw e;
  }
}

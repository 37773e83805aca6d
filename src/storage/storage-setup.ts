// What a storage server is set up as, from its data folder and the start's flags, before it
// serves anything: storage.json read and written (name, listen address, mode), and either
// standalone mode (a self-signed certificate and an access key made at first start) or server
// mode (enrolled with a backup server by a one-time token, re-enrolled when its certificate
// expired offline; mutual TLS and grants). storage-daemon.ts runs what this returns.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { chooseAdvertise, parseListen } from '../core/listen.ts';
import { readTextIfExists, writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError } from '../core/errors.ts';
import { checkPartName } from '../core/part-identity.ts';
import type { TlsIdentity } from '../core/tls.ts';
import { renewalDecision } from '../core/cert-life.ts';
import { readIdentity, saveIdentity } from '../core/identity-files.ts';
import { type Authorize, grantAuthorizer, standaloneAuthorizer } from './authorize.ts';
import { Revocations } from './revocations.ts';
import type { StartStorageOptions } from './storage-daemon.ts';

/** `appendOnly`: set by `--append-only` and kept (only an edit of storage.json on this machine turns it off) */
export type StorageSettings =
  | { name: string; listen: string; mode: 'standalone'; appendOnly?: true }
  | { name: string; listen: string; mode: 'server'; server: string; advertise?: string; appendOnly?: true };

export type SavedSettings = Partial<{ name: string; listen: string; mode: string; server: string; advertise: string; appendOnly: boolean }>;

function appendOnlyOf(requested: boolean | undefined, saved: SavedSettings | undefined): { appendOnly?: true } {
  return requested === true || saved?.appendOnly === true ? { appendOnly: true } : {};
}

export async function readSaved(dataDir: string): Promise<SavedSettings | undefined> {
  const path = join(dataDir, 'storage.json');
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as SavedSettings;
  } catch (e) {
    throw new CairnError('E_CORRUPT', `${path} is damaged: ${(e as Error).message}`, { cause: e });
  }
}

export async function saveSettings(dataDir: string, settings: StorageSettings, saved: SavedSettings | undefined): Promise<void> {
  if (JSON.stringify(settings) === JSON.stringify(saved)) return;
  await writeFileAtomic(join(dataDir, 'storage.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

function chooseListen(listen: string | undefined, saved: SavedSettings | undefined): string {
  const chosen = listen ?? saved?.listen;
  if (chosen === undefined) throw new CairnError('E_USAGE', 'storage start: --listen HOST:PORT is required at first start');
  parseListen(chosen);
  return chosen;
}

// ---- standalone mode

export async function standaloneSetup(dataDir: string, saved: SavedSettings | undefined, listen: string | undefined, appendOnly: boolean | undefined) {
  const settings: StorageSettings = {
    name: saved?.name ?? `${hostname()}-${randomBytes(3).toString('hex')}`,
    listen: chooseListen(listen, saved),
    mode: 'standalone',
    ...appendOnlyOf(appendOnly, saved),
  };
  await saveSettings(dataDir, settings, saved);
  const identity = await loadSelfSignedIdentity(dataDir, settings);
  const authorize = standaloneAuthorizer(await loadAccessKey(dataDir));
  return { settings, identity, authorize, clientCa: undefined, enrollment: undefined, revoked: undefined };
}

async function loadSelfSignedIdentity(dataDir: string, settings: StorageSettings): Promise<TlsIdentity> {
  const dir = join(dataDir, 'tls');
  const [keyPem, certPem] = await Promise.all([readTextIfExists(join(dir, 'key.pem')), readTextIfExists(join(dir, 'cert.pem'))]);
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
  const saved = (await readTextIfExists(path))?.trim();
  if (saved) return saved;
  const key = randomBytes(32).toString('hex');
  await writeFileAtomic(path, `${key}\n`, { mode: 0o600 });
  return key;
}

// ---- server mode

export type Enrollment = { identity: TlsIdentity; caPem: string; grantPublicKeyPem: string };

async function readEnrollment(dataDir: string): Promise<Enrollment | undefined> {
  const [identity, caPem, grantPublicKeyPem] = await Promise.all([
    readIdentity(join(dataDir, 'tls')),
    readTextIfExists(join(dataDir, 'ca.pem')),
    readTextIfExists(join(dataDir, 'grant-key.pub.pem')),
  ]);
  if (identity === undefined || caPem === undefined || grantPublicKeyPem === undefined) return undefined;
  return { identity, caPem, grantPublicKeyPem };
}

export function usage(message: string): CairnError {
  return new CairnError('E_USAGE', `storage start: ${message}`);
}

/**
 * Enrolls with the token and writes the part's files, storage.json last: a crash before it
 * leaves a folder that is not enrolled yet (start again with a new token), never half of one.
 * With `previous` (an expired certificate) it re-enrolls the storage server enrolled as `name`.
 */
async function enroll(dataDir: string, options: StartStorageOptions, name: string, listen: string, previous?: TlsIdentity) {
  const { enrollPart } = await import('../protocol/enroll-client.ts');
  const enrolled = await enrollPart({
    token: options.token!,
    kind: 'storage',
    name,
    version: options.version ?? '0.1.0',
    server: options.server,
    ...(previous ? { previous } : {}),
  });
  await saveIdentity(join(dataDir, 'tls'), { keyPem: enrolled.keyPem, certPem: enrolled.certPem });
  await writeFileAtomic(join(dataDir, 'ca.pem'), enrolled.caPem);
  await writeFileAtomic(join(dataDir, 'grant-key.pub.pem'), enrolled.grantPublicKeyPem);
  const enrollment: Enrollment = {
    identity: { keyPem: enrolled.keyPem, certPem: enrolled.certPem },
    caPem: enrolled.caPem,
    grantPublicKeyPem: enrolled.grantPublicKeyPem,
  };
  return { enrollment, server: options.server ?? enrolled.server };
}

function sameUrl(a: string, b: string | undefined): boolean {
  try {
    return b !== undefined && new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

export async function serverSetup(dataDir: string, saved: SavedSettings | undefined, options: StartStorageOptions) {
  const listen = chooseListen(options.listen, saved);
  const existing = saved?.mode === 'server' ? await readEnrollment(dataDir) : undefined;
  const sameServer = options.server === undefined || sameUrl(options.server, saved?.server);
  let enrollment: Enrollment;
  let server: string;
  let name: string;
  if (existing && typeof saved?.name === 'string' && typeof saved.server === 'string' && sameServer) {
    if (options.name !== undefined && options.name !== saved.name)
      throw usage(`this data folder is enrolled as ${saved.name}; --name cannot rename it`);
    name = saved.name;
    server = saved.server;
    enrollment = existing;
    // a certificate that expired while this storage server was offline: the token re-enrolls it
    if (options.token !== undefined && renewalDecision(existing.identity.certPem, Date.now()) === 'expired') {
      ({ enrollment } = await enroll(dataDir, { ...options, server }, name, listen, existing.identity));
      options.log?.(`re-enrolled as ${name} with ${server} (its certificate had expired)`);
    } else if (options.token !== undefined) options.log?.(`already enrolled as ${saved.name} with ${saved.server}; token not used`);
  } else {
    if (options.token === undefined) {
      throw usage(
        existing
          ? `enrolled with ${saved?.server}; joining ${options.server} needs --token T (or CAIRN_TOKEN)`
          : '--server needs --token T (or CAIRN_TOKEN) and --name NAME the first time',
      );
    }
    const chosen = options.name ?? saved?.name;
    if (chosen === undefined) throw usage('--name NAME is required the first time');
    try {
      name = checkPartName(chosen);
    } catch (e) {
      throw usage(`--name: ${(e as Error).message}`);
    }
    ({ enrollment, server } = await enroll(dataDir, options, name, listen));
  }
  const advertise = chooseAdvertise(options.advertise, saved?.advertise);
  const settings: StorageSettings = {
    name,
    listen,
    mode: 'server',
    server,
    ...(advertise !== undefined ? { advertise } : {}),
    ...appendOnlyOf(options.appendOnly, saved),
  };
  await saveSettings(dataDir, settings, saved);
  const revoked = await Revocations.load(dataDir);
  const authorize: Authorize = grantAuthorizer({
    caPem: enrollment.caPem,
    grantPublicKeyPem: enrollment.grantPublicKeyPem,
    storageName: name,
    revoked,
  });
  return { settings, identity: enrollment.identity, authorize, clientCa: enrollment.caPem, enrollment, revoked };
}

// The backup server's data folder: its CA, its own TLS leaf, the grant-signing key, server.json
// and the secrets shown once. `initServerDir` makes them (refusing a folder already initialised);
// `loadServerFiles` reads them back at every start and re-issues the TLS leaf when the listen
// host or the advertised host is not among its names (consoles reach the server by those);
// `renewServerLeaf` replaces the leaf when two thirds of its life are gone.
import type { Limits } from './queue.ts';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type CertificateAuthority, createCertificateAuthority, createPartRequest, issuePartCertificate } from '../core/ca.ts';
import { renewalDecision } from '../core/cert-life.ts';
import { readTextIfExists, writeFileAtomic } from '../core/durable-fs.ts';
import { readIdentity, saveIdentity } from '../core/identity-files.ts';
import { CairnError } from '../core/errors.ts';
import { isWildcard } from '../core/listen.ts';
import { CAIRN_CA_NAME, certificateFingerprint, type TlsIdentity } from '../core/tls.ts';

/** `web`: the site certificate's files (`server start --web-cert/--web-key`), read again at each start */
export type ServerSettings = { listen?: string; tlsHosts?: string[]; advertise?: string; limits?: Partial<Limits>; web?: { cert: string; key: string } };

export type ServerFiles = {
  ca: CertificateAuthority;
  caFingerprint: string;
  identity: TlsIdentity;
  grantKey: KeyObject;
  grantPublicKeyPem: string;
  settings: ServerSettings;
};

export function isInitialised(dataDir: string): Promise<boolean> {
  return readTextIfExists(join(dataDir, 'ca.pem')).then((t) => t !== undefined);
}

/** Writes a secret shown once to DIR/secrets/NAME (mode 0600), never to a log. */
export async function keepSecret(dataDir: string, name: string, value: string): Promise<string> {
  const dir = join(dataDir, 'secrets');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, name);
  await writeFileAtomic(path, `${value}\n`, { mode: 0o600 });
  return path;
}

async function issueServerLeaf(ca: CertificateAuthority, hosts: string[]): Promise<TlsIdentity> {
  const request = await createPartRequest({ kind: 'server', name: 'server' });
  const certPem = await issuePartCertificate(ca, request.csrPem, { kind: 'server', name: 'server', hosts });
  return { keyPem: request.keyPem, certPem };
}

function leafHosts(extra: string[]): string[] {
  return [...new Set(['127.0.0.1', '::1', 'localhost', hostname(), ...extra])];
}

async function saveLeaf(dataDir: string, identity: TlsIdentity): Promise<void> {
  await saveIdentity(join(dataDir, 'tls'), identity);
}

/**
 * A new key and leaf for the server when two thirds of the current one's life are gone (or it
 * expired), saved before it is returned; undefined when the current one is kept.
 */
export async function renewServerLeaf(dataDir: string, ca: CertificateAuthority, current: TlsIdentity, hosts: string[]): Promise<TlsIdentity | undefined> {
  if (renewalDecision(current.certPem, Date.now()) === 'keep') return undefined;
  const identity = await issueServerLeaf(ca, leafHosts(hosts));
  await saveLeaf(dataDir, identity);
  return identity;
}

export async function saveSettings(dataDir: string, settings: ServerSettings): Promise<void> {
  await writeFileAtomic(join(dataDir, 'server.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

/** Creates the CA, the server's leaf and the grant key in a new data folder. */
export async function initServerFiles(dataDir: string): Promise<{ caFingerprint: string }> {
  if (await isInitialised(dataDir)) throw new CairnError('E_CONFLICT', `${dataDir} already holds a Cairn server`);
  const ca = await createCertificateAuthority(CAIRN_CA_NAME);
  const grant = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const hosts = leafHosts([]);
  await saveLeaf(dataDir, await issueServerLeaf(ca, hosts));
  await writeFileAtomic(join(dataDir, 'grant-key.pem'), grant.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  await writeFileAtomic(join(dataDir, 'grant-key.pub.pem'), grant.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  await saveSettings(dataDir, { tlsHosts: hosts });
  await writeFileAtomic(join(dataDir, 'ca-key.pem'), ca.keyPem, { mode: 0o600 });
  // ca.pem last: its presence is what marks the folder as initialised
  await writeFileAtomic(join(dataDir, 'ca.pem'), ca.certPem);
  return { caFingerprint: certificateFingerprint(ca.certPem) };
}

/** `hosts`: the names and addresses the server is reached by (listen host, advertised host); wildcards are skipped. */
export async function loadServerFiles(dataDir: string, hosts: string[] = []): Promise<ServerFiles> {
  const need = async (name: string) => {
    const text = await readTextIfExists(join(dataDir, name));
    if (text === undefined) throw new CairnError('E_USAGE', `${dataDir} is not an initialised Cairn server (missing ${name}): run cairn server init --data ${dataDir}`);
    return text;
  };
  const ca = { certPem: await need('ca.pem'), keyPem: await need('ca-key.pem') };
  const settings = JSON.parse((await readTextIfExists(join(dataDir, 'server.json'))) ?? '{}') as ServerSettings;
  await need('tls/cert.pem');
  let identity = (await readIdentity(join(dataDir, 'tls')))!;
  const names = hosts.map((h) => h.replace(/^\[|\]$/g, '')).filter((h) => h && !isWildcard(h));
  const known = settings.tlsHosts ?? [];
  if (names.some((h) => !known.includes(h))) {
    settings.tlsHosts = leafHosts([...known, ...names]);
    identity = await issueServerLeaf(ca, settings.tlsHosts);
    await saveLeaf(dataDir, identity);
    await saveSettings(dataDir, settings);
  }
  const grantKey = createPrivateKey(await need('grant-key.pem'));
  return {
    ca,
    caFingerprint: certificateFingerprint(ca.certPem),
    identity,
    grantKey,
    grantPublicKeyPem: createPublicKey(grantKey).export({ type: 'spki', format: 'pem' }).toString(),
    settings,
  };
}

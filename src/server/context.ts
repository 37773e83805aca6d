// Everything a route or a service of the backup server reaches: the catalog, the CA and grant
// key, the control hub to the parts, the console event stream, and small shared helpers
// (ISO times, the lookups by name that every route needs, with their "no such …" errors).
import type { KeyObject } from 'node:crypto';
import type { CertificateAuthority } from '../core/ca.ts';
import { CairnError } from '../core/errors.ts';
import type { Accounts, Caller } from './auth/accounts.ts';
import type { LoginLimiter } from './auth/login-limiter.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import type { ControlHub } from './control-hub.ts';
import type { EventHub } from './http/events.ts';
import type { NetMonitor } from './net-monitor.ts';
import type { Limits } from './queue.ts';

export type ServerContext = {
  db: CatalogDriver;
  accounts: Accounts;
  limiter: LoginLimiter;
  hub: ControlHub;
  /** heartbeats in memory, the network history they downsample to (net-monitor.ts) */
  net: NetMonitor;
  events: EventHub;
  ca: CertificateAuthority;
  caFingerprint: string;
  grantKey: KeyObject;
  grantPublicKeyPem: string;
  /** the server's data folder (issued certificates are kept under it) */
  dataDir: string;
  /** the URL parts and consoles reach the server at */
  url: string;
  version: string;
  log: (line: string) => void;
  /** wakes the scheduler (a run was queued, a part came online, a run ended) */
  kick: () => void;
  /** runs at once: globally, per agent and per storage server unless the part sets its own */
  limits: Limits;
};

export function iso(ms: number | bigint | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString();
}

export function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : (v as number);
}

export type PartKindName = 'agent' | 'storage';
const TABLE = { agent: 'agents', storage: 'storages' } as const;

export function partTable(kind: PartKindName): 'agents' | 'storages' {
  return TABLE[kind];
}

/** The id of a live (not removed) part, or E_NOT_FOUND naming it. */
export async function partId(db: CatalogDriver, kind: PartKindName, name: string): Promise<number> {
  const rows = await db.query<{ id: number }>(`SELECT id FROM ${TABLE[kind]} WHERE name = ? AND removed_at IS NULL`, [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no ${kind} named ${name}`);
  return num(rows[0].id);
}

export type VaultRow = { id: number; name: string; storage_id: number; owner_id: number | null; key_file: string; chunker: string; created_at: number };

export async function vaultByName(db: CatalogDriver, name: string): Promise<VaultRow> {
  const rows = await db.query<VaultRow>('SELECT * FROM vaults WHERE name = ?', [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no vault named ${name}`);
  return rows[0];
}

/** A `user` acts only on what it owns: anything else is, to it, not there (E_NOT_FOUND naming `what`). */
export function checkOwner(caller: Caller, ownerId: number | bigint | null, what: string): void {
  if (caller.role === 'user' && (ownerId === null || num(ownerId) !== caller.id)) throw new CairnError('E_NOT_FOUND', `no ${what}`);
}

/** A live agent's id, checked against the caller's ownership. */
export async function ownedAgentId(db: CatalogDriver, caller: Caller, name: string): Promise<number> {
  const rows = await db.query<{ id: number; owner_id: number | null }>('SELECT id, owner_id FROM agents WHERE name = ? AND removed_at IS NULL', [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no agent named ${name}`);
  checkOwner(caller, rows[0].owner_id, `agent named ${name}`);
  return num(rows[0].id);
}

/** A vault by name, checked against the caller's ownership. */
export async function ownedVault(db: CatalogDriver, caller: Caller, name: string): Promise<VaultRow> {
  const vault = await vaultByName(db, name);
  checkOwner(caller, vault.owner_id, `vault named ${name}`);
  return vault;
}

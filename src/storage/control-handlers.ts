// What the backup server may ask a storage server over the control channel
// (docs/control-plane.md): create a vault with the key file it relays from a console, replace
// that key file (a new passphrase), scrub a vault, delete a snapshot, collect garbage (gc.ts) and
// report its disk space and vault sizes (figures.ts).
// An append-only storage server keeps the old key file, turns a deletion into a request and
// frees nothing without the code it wrote on its own machine (gc-confirm.ts). Agents can do neither on the data plane; these calls are how vaults come to exist
// in server mode. Params are validated here exactly as the data-plane routes validate them.
import { CairnError } from '../core/errors.ts';
import { parseKeyFile } from '../core/keys.ts';
import type { DeleteSnapshotResult, GcResult, StorageFiguresResult } from '../protocol/control.ts';
import { checkHex64, checkVaultName, parseCreateVaultRequest, type ScrubReport, type VaultConfig } from '../protocol/data-plane.ts';
import { storageFigures } from './figures.ts';
import { collectGarbage, type GcReport } from './gc.ts';
import type { StorageMetrics } from './metrics.ts';
import { scrubVault } from './scrub.ts';
import { deleteSnapshot, requestDeletion } from './snapshot-removal.ts';
import { parseFingerprints, type Revocations } from './revocations.ts';
import type { VaultStore } from './vault-store.ts';

export type ControlHandlers = Record<string, (params: unknown) => Promise<unknown>>;

export type CreateVaultResult = { vault: string; created: boolean };

function paramsObject(params: unknown, method: string): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params))
    throw new CairnError('E_BAD_REQUEST', `${method}: params must be an object`);
  return params as Record<string, unknown>;
}

export type ControlOptions = {
  /** --append-only: nothing is deleted or overwritten without the admin's confirmation */
  appendOnly?: boolean;
  /** the storage server's own log (a gc confirmation code goes there) */
  log?: (line: string) => void;
  /** the process's metrics (with --metrics-listen): scrub and gc results go there */
  metrics?: StorageMetrics;
  /** removed agents' certificates (server mode): the backup server's `revoke` calls add to it */
  revoked?: Revocations;
  /** an event of a run to the backup server (a gc run's phase and log lines) */
  event?: (run: number, kind: 'progress' | 'log', data: unknown) => void;
};

export function storageControlHandlers(store: VaultStore, options: ControlOptions = {}): ControlHandlers {
  const appendOnly = options.appendOnly === true;
  const log = options.log ?? ((line: string) => process.stderr.write(`cairn storage: ${line}\n`));
  return {
    /**
     * Creates the vault. A repeat of a creation that already happened (the server retrying after
     * a lost reply) succeeds with created: false; another config under the same name is E_CONFLICT.
     */
    async createVault(params: unknown): Promise<CreateVaultResult> {
      const { vault, config } = parseCreateVaultRequest(params);
      try {
        await store.create(vault, config);
        return { vault, created: true };
      } catch (e) {
        if (!(e instanceof CairnError && e.code === 'E_CONFLICT')) throw e;
        const existing = await store.open(vault);
        if (JSON.stringify(existing.config) !== JSON.stringify(config)) throw e;
        return { vault, created: false };
      }
    },

    /** A new passphrase for the vault: the key file the console re-wrapped, relayed by the server. */
    async replaceKeyFile(params: unknown): Promise<{ vault: string }> {
      const o = paramsObject(params, 'replaceKeyFile');
      for (const k of Object.keys(o)) if (k !== 'vault' && k !== 'keyFile') throw new CairnError('E_BAD_REQUEST', `replaceKeyFile: unexpected field ${k}`);
      const vault = checkVaultName(o.vault);
      await store.replaceKeyFile(vault, parseKeyFile(o.keyFile), { keepOld: appendOnly });
      return { vault };
    },

    /** The vault's config (chunker and passphrase-wrapped key file): how a rebuilt catalog adopts a vault it lost. */
    async getVault(params: unknown): Promise<{ config: VaultConfig }> {
      const o = paramsObject(params, 'getVault');
      for (const k of Object.keys(o)) if (k !== 'vault') throw new CairnError('E_BAD_REQUEST', `getVault: unexpected field ${k}`);
      return { config: (await store.open(checkVaultName(o.vault))).config };
    },

    async scrub(params: unknown): Promise<ScrubReport> {
      const o = paramsObject(params, 'scrub');
      for (const k of Object.keys(o)) if (k !== 'vault') throw new CairnError('E_BAD_REQUEST', `scrub: unexpected field ${k}`);
      const report = await scrubVault(await store.open(checkVaultName(o.vault)));
      options.metrics?.scrubbed(report);
      return report;
    },

    /** Removes a snapshot (idempotent); on an append-only server, records a request to. */
    async deleteSnapshot(params: unknown): Promise<DeleteSnapshotResult> {
      const o = paramsObject(params, 'deleteSnapshot');
      for (const k of Object.keys(o)) if (k !== 'vault' && k !== 'snapshot') throw new CairnError('E_BAD_REQUEST', `deleteSnapshot: unexpected field ${k}`);
      const vault = await store.open(checkVaultName(o.vault));
      const snapshot = checkHex64(o.snapshot, 'snapshot');
      if (appendOnly && (await requestDeletion(vault, snapshot))) return { requested: true };
      if (!appendOnly) await deleteSnapshot(vault, snapshot);
      return { deleted: true };
    },

    async gc(params: unknown): Promise<GcResult> {
      const o = paramsObject(params ?? {}, 'gc');
      for (const k of Object.keys(o)) if (k !== 'confirm' && k !== 'run') throw new CairnError('E_BAD_REQUEST', `gc: unexpected field ${k}`);
      if (o.confirm !== undefined && (typeof o.confirm !== 'string' || o.confirm.length === 0 || o.confirm.length > 100))
        throw new CairnError('E_BAD_REQUEST', 'gc: confirm must be the code the storage server wrote (a short string)');
      if (o.run !== undefined && !(Number.isSafeInteger(o.run) && (o.run as number) > 0)) throw new CairnError('E_BAD_REQUEST', 'gc: run must be a run id');
      const run = o.run as number | undefined;
      const send = options.event;
      const report: GcReport | undefined =
        run === undefined || send === undefined
          ? undefined
          : {
              phase: (phase, vault) => send(run, 'progress', { phase, currentPath: `vault ${vault}` }),
              line: (level, message) => send(run, 'log', { level, message }),
            };
      const result = await collectGarbage(store, { dataDir: store.dataDir, appendOnly, log, ...(o.confirm !== undefined ? { confirm: o.confirm } : {}), ...(report ? { report } : {}) });
      options.metrics?.collected(result);
      return result;
    },

    /**
     * Agent certificates to refuse from now on, even with a valid grant: one removed agent's, or
     * (`full`) every removed agent's, which the backup server sends after each hello.
     */
    async revoke(params: unknown): Promise<{ revoked: number }> {
      const revoked = options.revoked;
      if (!revoked) throw new CairnError('E_BAD_REQUEST', 'revoke: this storage server takes no grants');
      const o = paramsObject(params, 'revoke');
      for (const k of Object.keys(o)) if (k !== 'fingerprints' && k !== 'full') throw new CairnError('E_BAD_REQUEST', `revoke: unexpected field ${k}`);
      if (o.full !== undefined && typeof o.full !== 'boolean') throw new CairnError('E_BAD_REQUEST', 'revoke: full must be true or false');
      const fingerprints = parseFingerprints(o.fingerprints, 'revoke');
      const count = await revoked.apply(fingerprints, o.full === true);
      if (fingerprints.length > 0 || o.full !== true) log(`revoked ${fingerprints.length} agent certificate(s)${o.full === true ? ' (the backup server\'s full list)' : ''}; ${count} in all`);
      return { revoked: count };
    },

    /** Disk space and each vault's pack bytes (figures.ts): the backup server keeps them for storage list and its metrics. */
    async figures(params: unknown): Promise<StorageFiguresResult> {
      const o = paramsObject(params ?? {}, 'figures');
      for (const k of Object.keys(o)) throw new CairnError('E_BAD_REQUEST', `figures: unexpected field ${k}`);
      return storageFigures(store);
    },
  };
}

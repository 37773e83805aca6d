// Routes for rebuilding a lost catalog from the storage servers (admin only): a storage server's
// own record of a vault (what a console unwraps with the passphrase), adopting that vault into
// the catalog, and starting and following a rebuild of the snapshots and file index from it.
import { CairnError } from '../../core/errors.ts';
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import type { RebuildBody, Rebuilds } from '../rebuild.ts';
import { type AdoptVaultBody, adoptVault, storageVault } from '../vault-adopt.ts';

const adoptBody: Schema = {
  type: 'object',
  properties: {
    name: nameSchema,
    storage: nameSchema,
    agentKeys: { type: 'object', properties: {}, additionalProperties: { type: 'string', maxLength: 4096 }, maxProperties: 1000 },
  },
  required: ['name', 'storage', 'agentKeys'],
};
const rebuildBody: Schema = {
  type: 'object',
  properties: { storage: nameSchema, vault: nameSchema, agent: nameSchema },
  required: ['storage', 'vault', 'agent'],
};

function rebuildId(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new CairnError('E_NOT_FOUND', `no rebuild ${text.slice(0, 20)}`);
  return Number(text);
}

export function rebuildRoutes(ctx: ServerContext, rebuilds: Rebuilds): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/storages/:name/vaults/:vault',
      summary: "a vault as the storage server keeps it (chunker, passphrase-wrapped key file), for adopting it",
      access: 'admin',
      handle: async ({ params }) => storageVault(ctx, params.name!, params.vault!),
    },
    {
      method: 'POST',
      path: '/api/vaults/adopt',
      summary: "record a storage server's vault the catalog lost, with agents' wrapped keys",
      access: 'admin',
      body: adoptBody,
      handle: async ({ body, caller }) => adoptVault(ctx, caller!, body as AdoptVaultBody),
    },
    {
      method: 'POST',
      path: '/api/rebuilds',
      summary: "rebuild the catalog's snapshots and file index from a vault, read by an agent holding its keys",
      access: 'admin',
      body: rebuildBody,
      answers: 'the rebuild, running',
      handle: async ({ body }) => rebuilds.start(body as RebuildBody),
    },
    {
      method: 'GET',
      path: '/api/rebuilds/:id',
      summary: 'one rebuild: status, snapshots and files added, warnings, error',
      access: 'admin',
      handle: async ({ params }) => rebuilds.get(rebuildId(params.id!)),
    },
  ];
}

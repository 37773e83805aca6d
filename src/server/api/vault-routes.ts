// Routes about vaults: create (wrapped keys only), list, show (with the passphrase-wrapped key
// file a console needs to grant another agent), grant an agent its own wrapped copy, new key file.
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import { type CreateVaultBody, createVault, getVault, grantVaultToAgent, listVaults, replaceKeyFile } from '../vaults.ts';
import { scrubRoutes } from './scrub-routes.ts';

const anyObject: Schema = { type: 'object', properties: {}, additionalProperties: { type: 'string', maxLength: 4096 } };
const keyFileSchema: Schema = {
  type: 'object',
  properties: {
    version: { type: 'integer', minimum: 1, maximum: 1 },
    kdf: {
      type: 'object',
      properties: {
        name: { type: 'string', enum: ['argon2id'] },
        memoryKiB: { type: 'integer' },
        passes: { type: 'integer' },
        parallelism: { type: 'integer' },
        salt: { type: 'string', maxLength: 1024 },
      },
      required: ['name', 'memoryKiB', 'passes', 'parallelism', 'salt'],
    },
    nonce: { type: 'string', maxLength: 1024 },
    sealed: { type: 'string', maxLength: 1024 },
    // the vault's random id and key-check value (core/keys.ts); absent in vaults made before them
    vaultId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    check: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
  required: ['version', 'kdf', 'nonce', 'sealed'],
};
const createBody: Schema = {
  type: 'object',
  properties: {
    name: nameSchema,
    storage: nameSchema,
    chunker: {
      type: 'object',
      properties: { min: { type: 'integer' }, avg: { type: 'integer' }, max: { type: 'integer' } },
      required: ['min', 'avg', 'max'],
    },
    keyFile: keyFileSchema,
    agentKeys: { ...anyObject, maxProperties: 1000 },
  },
  required: ['name', 'storage', 'chunker', 'keyFile'],
};
const grantBody: Schema = { type: 'object', properties: { wrapped: { type: 'string', maxLength: 4096 } }, required: ['wrapped'] };
const keyFileBody: Schema = { type: 'object', properties: { keyFile: keyFileSchema }, required: ['keyFile'] };

export function vaultRoutes(ctx: ServerContext): Route[] {
  return [
    { method: 'GET', path: '/api/vaults', summary: 'vaults and the agents holding their keys', access: 'read', handle: async ({ caller }) => listVaults(ctx.db, caller!) },
    { method: 'GET', path: '/api/vaults/:name', summary: 'one vault with its passphrase-wrapped key file', access: 'read', handle: async ({ params, caller }) => getVault(ctx.db, caller!, params.name!) },
    {
      method: 'POST',
      path: '/api/vaults',
      summary: 'create a vault from keys a console made (wrapped only)',
      access: 'operate',
      body: createBody,
      handle: async ({ body, caller }) => createVault(ctx, caller!, body as CreateVaultBody),
    },
    {
      method: 'PUT',
      path: '/api/vaults/:name/agents/:agent',
      summary: "store an agent's copy of the vault keys, wrapped to its key pair",
      access: 'operate',
      body: grantBody,
      handle: async ({ params, body, caller }) => {
        await grantVaultToAgent(ctx, caller!, params.name!, params.agent!, (body as { wrapped: string }).wrapped);
        return {};
      },
    },
    {
      method: 'PUT',
      path: '/api/vaults/:name/key-file',
      summary: 'replace the passphrase-wrapped key file (a new passphrase)',
      access: 'operate',
      body: keyFileBody,
      handle: async ({ params, body, caller }) => {
        await replaceKeyFile(ctx, caller!, params.name!, (body as { keyFile: unknown }).keyFile);
        return {};
      },
    },
    ...scrubRoutes(ctx),
  ];
}

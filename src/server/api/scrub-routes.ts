// POST /api/vaults/:name/scrub: asks the storage server holding the vault to re-hash every pack
// file (no keys needed: a pack's name is its SHA-256) and answers what is damaged and why. The
// scrub reads every byte of the vault, so the call has no time limit; it changes nothing. A
// `user` scrubs only vaults it owns; the router writes the audit entry.
import { CairnError } from '../../core/errors.ts';
import type { ScrubJson } from '../../protocol/api-types.ts';
import { parseScrubReport } from '../../protocol/data-plane.ts';
import type { Caller } from '../auth/accounts.ts';
import { ownedVault, type ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';

export async function scrubVaultOnStorage(ctx: ServerContext, caller: Caller, name: string): Promise<ScrubJson> {
  const vault = await ownedVault(ctx.db, caller, name);
  const rows = await ctx.db.query<{ name: string }>('SELECT name FROM storages WHERE id = ?', [vault.storage_id]);
  const storage = rows[0]!.name;
  const part = { kind: 'storage', name: storage } as const;
  if (!ctx.hub.isOnline(part)) throw new CairnError('E_UNAVAILABLE', `storage ${storage} is offline: vault ${vault.name} cannot be scrubbed until it is back`);
  // no timeout: a big vault takes as long as reading all of it; the call fails if the link drops
  const report = parseScrubReport(await ctx.hub.call(part, 'scrub', { vault: vault.name }));
  return { vault: vault.name, storage, packs: report.packs, bytes: report.bytes, damaged: report.damaged, damagedTotal: report.damagedTotal };
}

export function scrubRoutes(ctx: ServerContext): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/vaults/:name/scrub',
      summary: 're-hash every pack file of the vault on its storage server (no keys) and list the damaged ones with why',
      access: 'operate',
      body: { type: 'object', properties: {} }, // nothing to say: an empty body or {}
      answers: '{vault, storage, packs, bytes, damaged: [{pack, reason}] (the first 1,000), damagedTotal}',
      handle: async ({ params, caller }) => scrubVaultOnStorage(ctx, caller!, params.name!),
    },
  ];
}

// Removed agents' certificates, pushed to storage servers (storage/revocations.ts): one removal to
// every online storage server at once, and the full list to each storage server right after its
// hello (it serves no grant until it has that list since its start).
import type { ServerContext } from './context.ts';
import type { PartRef } from './control-hub.ts';

/** Every removed agent's certificate fingerprint. */
async function revokedFingerprints(ctx: ServerContext): Promise<string[]> {
  const rows = await ctx.db.query<{ cert_fingerprint: string }>('SELECT DISTINCT cert_fingerprint FROM agents WHERE removed_at IS NOT NULL');
  return rows.map((r) => r.cert_fingerprint);
}

/** A storage server said hello: its full list before it serves anything from our grants (it answers 503 until then). */
export async function sendRevokedList(ctx: ServerContext, storage: PartRef): Promise<void> {
  try {
    await ctx.hub.call(storage, 'revoke', { fingerprints: await revokedFingerprints(ctx), full: true });
  } catch (e) {
    // it stays shut to grants: its next hello tries again
    ctx.log(`storage ${storage.name} did not take the revoked list: ${(e as Error).message}; reconnecting it`);
    ctx.hub.disconnect(storage, 'did not take the revoked list');
  }
}

/** An agent was removed: every online storage server refuses its certificate from now on; offline ones get it with their next full list. */
export async function pushRevoked(ctx: ServerContext, fingerprint: string): Promise<void> {
  const storages = await ctx.db.query<{ name: string }>('SELECT name FROM storages WHERE removed_at IS NULL');
  await Promise.all(
    storages
      .map((s) => ({ kind: 'storage' as const, name: s.name }))
      .filter((s) => ctx.hub.isOnline(s))
      .map((s) =>
        ctx.hub.call(s, 'revoke', { fingerprints: [fingerprint] }).catch((e: unknown) => {
          // its next hello brings the full list: drop the link now rather than wait for one
          ctx.log(`storage ${s.name} did not take the revocation of an agent certificate: ${(e as Error).message}; reconnecting it`);
          ctx.hub.disconnect(s, 'did not take a revocation');
        }),
      ),
  );
}

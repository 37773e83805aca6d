// Grants as the backup server signs them: every grant names the agent's current certificate
// fingerprint (read from the catalog at signing time, so a grant issued after a certificate renewal
// carries the new one), and a storage server accepts it only over a connection with that certificate.
import { CairnError } from '../core/errors.ts';
import { type Grant, signGrant } from '../protocol/grant.ts';
import type { ServerContext } from './context.ts';

/** Signs `grant` for its agent's certificate; a removed or unknown agent gets none. */
export async function signAgentGrant(ctx: Pick<ServerContext, 'db' | 'grantKey'>, grant: Omit<Grant, 'cert'>): Promise<string> {
  const rows = await ctx.db.query<{ cert_fingerprint: string }>('SELECT cert_fingerprint FROM agents WHERE name = ? AND removed_at IS NULL', [grant.agent]);
  const cert = rows[0]?.cert_fingerprint;
  if (!cert) throw new CairnError('E_FORBIDDEN', `agent ${grant.agent} is not enrolled: no grant`);
  return signGrant(ctx.grantKey, { ...grant, cert });
}

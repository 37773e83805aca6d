// Grants as the backup server signs them: every grant names the agent's current certificate
// fingerprint (read from the catalog at signing time, so a grant issued after a certificate renewal
// carries the new one), and a storage server accepts it only over a connection with that certificate.
import { CairnError } from '../core/errors.ts';
import { type Grant, signGrant } from '../protocol/grant.ts';
import type { ServerContext } from './context.ts';

/** The agent's current certificate fingerprint; a removed or unknown agent has none. */
export async function agentCertificate(ctx: Pick<ServerContext, 'db'>, agent: string): Promise<string> {
  const rows = await ctx.db.query<{ cert_fingerprint: string }>('SELECT cert_fingerprint FROM agents WHERE name = ? AND removed_at IS NULL', [agent]);
  const cert = rows[0]?.cert_fingerprint;
  if (!cert) throw new CairnError('E_FORBIDDEN', `agent ${agent} is not enrolled: no grant`);
  return cert;
}

/**
 * Signs `grant` for its agent's current certificate, or for `runCert`: a run's renewed grants keep
 * the certificate the run started with, because the agent's data-plane connections of that run
 * keep presenting it after a certificate renewal (it stays valid until it expires; a removal
 * revokes it on the storage servers). The agent must still be enrolled either way.
 */
export async function signAgentGrant(ctx: Pick<ServerContext, 'db' | 'grantKey'>, grant: Omit<Grant, 'cert'>, runCert?: string): Promise<{ token: string; cert: string }> {
  const current = await agentCertificate(ctx, grant.agent);
  const cert = runCert ?? current;
  return { token: signGrant(ctx.grantKey, { ...grant, cert }), cert };
}

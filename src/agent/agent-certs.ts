// The agent's TLS certificate over its life: renewed over the control channel at two thirds of
// its life (protocol/cert-renewer.ts), and, when it expired while the agent was offline,
// re-enrolled with a new token on the same data folder: the same name, and the same
// `agent-key.pem` (its public key goes with the request, so the vault keys wrapped to it stay
// usable), proved by a signature of the expired certificate's key. agent-key.pem never changes.
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { renewalDecision } from '../core/cert-life.ts';
import type { RenewalChecks } from '../core/cert-life.ts';
import type { TlsIdentity } from '../core/tls.ts';
import { type AgentSecrets, type AgentSettings, TLS_DIR, writeEnrollment } from './agent-settings.ts';

/** True when the agent should use `token` to re-enroll: its certificate expired. */
export function needsReenroll(secrets: AgentSecrets): boolean {
  return renewalDecision(secrets.identity.certPem, Date.now()) === 'expired';
}

/** Re-enrolls the agent enrolled in `dataDir` (same name, same vault key pair) and saves the new certificate. */
export async function reenrollAgent(
  dataDir: string,
  o: { token: string; version: string; server?: string },
  settings: AgentSettings,
  secrets: AgentSecrets,
): Promise<AgentSecrets> {
  const { enrollPart } = await import('../protocol/enroll-client.ts');
  const publicKeyPem = createPublicKey(secrets.agentKeyPem).export({ type: 'spki', format: 'pem' }).toString();
  const enrolled = await enrollPart({
    token: o.token,
    kind: 'agent',
    name: settings.name,
    publicKeyPem,
    version: o.version,
    server: o.server ?? settings.server,
    previous: secrets.identity,
  });
  const renewed: AgentSecrets = { ...secrets, identity: { keyPem: enrolled.keyPem, certPem: enrolled.certPem }, caPem: enrolled.caPem };
  await writeEnrollment(dataDir, renewed, settings);
  return renewed;
}

/** Hourly checks that renew the agent's certificate; `apply` points new connections at a renewed one. */
export async function startAgentRenewal(o: {
  dataDir: string;
  settings: AgentSettings;
  secrets: AgentSecrets;
  control: { connected: boolean; call: (method: string, params: unknown) => Promise<unknown> };
  apply: (identity: TlsIdentity) => void;
  log: (line: string) => void;
}): Promise<RenewalChecks> {
  const { startPartRenewal } = await import('../protocol/cert-renewer.ts');
  return startPartRenewal({
    tlsDir: path.join(o.dataDir, TLS_DIR),
    self: { kind: 'agent', name: o.settings.name },
    server: o.settings.server,
    caPem: o.secrets.caPem,
    current: () => o.secrets.identity,
    connected: () => o.control.connected,
    call: (method, params) => o.control.call(method, params),
    apply: o.apply,
    log: o.log,
    reenrollHint: `stop the agent and start it again with --data ${o.dataDir} --token T (cairn token create --kind agent) to re-enroll as ${o.settings.name}`,
  });
}

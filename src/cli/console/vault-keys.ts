// The vault-key steps that run on a console (docs/control-plane.md "Vault keys"): a new vault's
// keys generated here and sent only wrapped (by the passphrase, and to each agent's public key),
// and an agent granted a vault's keys by unwrapping the key file with the passphrase. No plain
// key leaves this process. An agent's public key is taken from the server only when it hashes to
// the fingerprint this console pinned for it (login-config.ts), or to the one given with --agent-key.
import { randomInt } from 'node:crypto';
import { agentKeyFingerprint, wrapForAgent } from '../../core/agent-keys.ts';
import { DEFAULT_CHUNKER, type ChunkerParams } from '../../core/chunker.ts';
import { CairnError } from '../../core/errors.ts';
import { generateVaultKeys, type KeyFile, keyCheck, newVaultId, parseKeyFile, unwrapKeys, type VaultKeys, wrapKeys } from '../../core/keys.ts';
import type { PartJson, SnapshotJson, VaultJson } from '../../protocol/api-types.ts';
import { type ApiClient, seg } from '../api-client.ts';
import { readSecret } from '../command.ts';
import { pinAgentKey, pinnedAgentKey } from '../login-config.ts';

export type AgentDetailJson = PartJson & { publicKey: string };
export type VaultDetailJson = VaultJson & { chunker: ChunkerParams; keyFile: KeyFile };

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A recovery passphrase: 6 groups of 5 base32 characters (150 random bits), dash-separated. */
export function generatePassphrase(): string {
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    let group = '';
    for (let i = 0; i < 5; i++) group += BASE32[randomInt(32)];
    groups.push(group);
  }
  return groups.join('-');
}

/** The passphrase from --passphrase-stdin or CAIRN_PASSPHRASE, or undefined when neither was given. */
export async function givenPassphrase(values: Record<string, unknown>): Promise<string | undefined> {
  if (values['passphrase-stdin'] !== true && !process.env.CAIRN_PASSPHRASE) return undefined;
  const passphrase = await readSecret(values['passphrase-stdin'] === true, 'CAIRN_PASSPHRASE', 'passphrase');
  if (passphrase === '') throw new CairnError('E_USAGE', 'the passphrase is empty');
  return passphrase;
}

/** The --agent-key option and its help, for every command that may wrap vault keys to an agent. */
export const AGENT_KEY_OPTION = { 'agent-key': { type: 'string', multiple: true } } as const;
export const AGENT_KEY_HELP = {
  'agent-key': "the agent's key fingerprint as 'cairn agent key' prints it on its machine: accepts (and pins) a changed key",
};

/** The --agent-key values, checked for form (E_USAGE otherwise). */
export function givenAgentKeys(values: Record<string, unknown>): string[] {
  const given = (values['agent-key'] as string[] | undefined) ?? [];
  for (const f of given)
    if (!/^[0-9a-f]{64}$/.test(f)) throw new CairnError('E_USAGE', `--agent-key: ${JSON.stringify(f.slice(0, 80))} is not a key fingerprint (64 lowercase hex digits)`);
  return given;
}

/** An agent public key this console trusts, and how to pin it once the keys wrapped to it are stored. */
export type TrustedAgentKey = { publicKey: string; fingerprint: string; pin: () => Promise<void> };

/**
 * The agents' key-wrapping public keys as the server serves them, refused (E_CONFLICT, naming
 * both fingerprints) when one does not hash to what the server claims, or differs from the
 * fingerprint this console pinned for the agent unless `given` (--agent-key) names it; a `given`
 * fingerprint that matches no served key is refused too.
 */
export async function trustedAgentKeys(client: ApiClient, agents: readonly string[], given: readonly string[] = []): Promise<TrustedAgentKey[]> {
  const served = [];
  for (const agent of agents) {
    const detail = await client.get<AgentDetailJson>(`/api/agents/${seg(agent)}`);
    if (typeof detail.publicKey !== 'string' || detail.publicKey === '')
      throw new CairnError('E_CONFLICT', `agent ${agent} has no public key to wrap vault keys to`);
    const fingerprint = agentKeyFingerprint(detail.publicKey);
    if (detail.keyFingerprint !== fingerprint)
      throw new CairnError(
        'E_CONFLICT',
        `agent ${agent}'s key does not hash to the fingerprint the server gave: server said ${detail.keyFingerprint ?? 'none'}, the key is ${fingerprint}`,
      );
    served.push({ agent, publicKey: detail.publicKey, fingerprint, pinned: await pinnedAgentKey(client.server, agent) });
  }
  for (const g of given)
    if (!served.some((a) => a.fingerprint === g))
      throw new CairnError('E_CONFLICT', `--agent-key ${g} is not ${served.map((a) => `agent ${a.agent}'s key: server gave ${a.fingerprint}`).join('; nor ')}`);
  return served.map(({ agent, publicKey, fingerprint, pinned }) => {
    if (pinned !== undefined && pinned !== fingerprint && !given.includes(fingerprint))
      throw new CairnError(
        'E_CONFLICT',
        `agent ${agent}'s key changed: pinned ${pinned}, server gave ${fingerprint}; if the agent was re-enrolled, check its fingerprint on its machine with 'cairn agent key' and pass --agent-key ${fingerprint}`,
      );
    const pin = pinned === fingerprint ? () => Promise.resolve() : () => pinAgentKey(client.server, agent, fingerprint);
    return { publicKey, fingerprint, pin };
  });
}

export type NewVault = {
  /** the POST /api/vaults body */
  body: { name: string; storage: string; chunker: ChunkerParams; keyFile: KeyFile; agentKeys?: Record<string, string> };
  /** set when the passphrase was generated here: to be shown once */
  recoveryPassphrase?: string;
  /** pins the agents' keys (before the vault is sent: a failure after it must not lose a generated passphrase) */
  pin: () => Promise<void>;
};

/**
 * A new vault's body: fresh keys and a fresh vault id, wrapped with `passphrase` (a strong one
 * generated when undefined) and to each agent's trusted public key.
 */
export async function newVault(
  client: ApiClient,
  name: string,
  storage: string,
  passphrase: string | undefined,
  agents: string[] = [],
  given: readonly string[] = [],
): Promise<NewVault> {
  const trusted = await trustedAgentKeys(client, agents, given);
  const keys = generateVaultKeys();
  const vaultId = newVaultId();
  const recoveryPassphrase = passphrase === undefined ? generatePassphrase() : undefined;
  const keyFile = await wrapKeys(keys, passphrase ?? recoveryPassphrase!, vaultId);
  const body: NewVault['body'] = { name, storage, chunker: DEFAULT_CHUNKER, keyFile };
  if (agents.length > 0) {
    body.agentKeys = {};
    agents.forEach((agent, i) => (body.agentKeys![agent] = wrapForAgent(keys, trusted[i]!.publicKey, vaultId)));
  }
  const pin = async () => {
    for (const t of trusted) await t.pin();
  };
  return recoveryPassphrase === undefined ? { body, pin } : { body, recoveryPassphrase, pin };
}

/**
 * The vault's keys, unwrapped from its key file with the passphrase (E_BAD_PASSPHRASE when
 * wrong), and the vault id they are bound to. A vault made before ids and key-check values gets
 * both now: its key file, the same keys sealed the same way, goes back with them (the storage
 * server takes them once, then refuses any other).
 */
export async function vaultKeys(client: ApiClient, vault: string, passphrase: string): Promise<{ keys: VaultKeys; vaultId: string }> {
  const detail = await client.get<VaultDetailJson>(`/api/vaults/${seg(vault)}`);
  const keyFile = parseKeyFile(detail.keyFile);
  const keys = await unwrapKeys(keyFile, passphrase);
  const upgraded = completeKeyFile(keyFile, keys);
  if (upgraded !== keyFile) await client.put(`/api/vaults/${seg(vault)}/key-file`, { keyFile: upgraded });
  return { keys, vaultId: upgraded.vaultId! };
}

/** `file` with its vault id and key-check value (itself when it has both). */
export function completeKeyFile(file: KeyFile, keys: VaultKeys): KeyFile {
  if (file.vaultId !== undefined && file.check !== undefined) return file;
  return { ...file, vaultId: file.vaultId ?? newVaultId(), check: keyCheck(keys) };
}

/**
 * Gives `agent` its own copy of the vault's keys, bound to the vault and wrapped to its trusted
 * public key (checked before anything is sent).
 */
export async function grantVault(client: ApiClient, vault: string, agent: string, passphrase: string, given: readonly string[] = []): Promise<void> {
  const [trusted] = await trustedAgentKeys(client, [agent], given);
  const { keys, vaultId } = await vaultKeys(client, vault, passphrase);
  const wrapped = wrapForAgent(keys, trusted!.publicKey, vaultId);
  await client.put(`/api/vaults/${seg(vault)}/agents/${seg(agent)}`, { wrapped });
  await trusted!.pin();
}

/** Gives `agent` the keys of the snapshot's vault unless it holds them already (a restore or verify by another agent). */
export async function grantForSnapshot(c: ApiClient, snapshot: string, agent: string, passphrase: string, given: readonly string[]): Promise<void> {
  const snap = await c.get<SnapshotJson>(`/api/snapshots/${seg(snapshot)}`);
  const vault = await c.get<VaultJson>(`/api/vaults/${seg(snap.vault)}`);
  if (!vault.agents.includes(agent)) await grantVault(c, snap.vault, agent, passphrase, given);
  else await confirmAgentKey(c, agent, given);
}

/**
 * When nothing is wrapped (the agent holds the vault's keys already), --agent-key still acts: the
 * served key must be the one given, and it is pinned.
 */
export async function confirmAgentKey(c: ApiClient, agent: string, given: readonly string[]): Promise<void> {
  if (given.length === 0) return;
  const [trusted] = await trustedAgentKeys(c, [agent], given);
  await trusted!.pin();
}

/** The line that shows a generated recovery passphrase, once. */
export function recoveryLine(vault: string, passphrase: string): string {
  return `recovery passphrase for vault ${vault} (shown once, keep it safe): ${passphrase}`;
}

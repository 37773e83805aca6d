// The vault-key steps that run on a console (docs/control-plane.md "Vault keys"): a new vault's
// keys generated here and sent only wrapped (by the passphrase, and to each agent's public key),
// and an agent granted a vault's keys by unwrapping the key file with the passphrase. No plain
// key leaves this process.
import { randomInt } from 'node:crypto';
import { wrapForAgent } from '../../core/agent-keys.ts';
import { DEFAULT_CHUNKER, type ChunkerParams } from '../../core/chunker.ts';
import { CairnError } from '../../core/errors.ts';
import { generateVaultKeys, type KeyFile, parseKeyFile, unwrapKeys, type VaultKeys, wrapKeys } from '../../core/keys.ts';
import type { PartJson, VaultJson } from '../../protocol/api-types.ts';
import { type ApiClient, seg } from '../api-client.ts';
import { readSecret } from '../command.ts';

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

export async function agentPublicKey(client: ApiClient, agent: string): Promise<string> {
  const detail = await client.get<AgentDetailJson>(`/api/agents/${seg(agent)}`);
  if (typeof detail.publicKey !== 'string' || detail.publicKey === '')
    throw new CairnError('E_CONFLICT', `agent ${agent} has no public key to wrap vault keys to`);
  return detail.publicKey;
}

export type NewVault = {
  /** the POST /api/vaults body */
  body: { name: string; storage: string; chunker: ChunkerParams; keyFile: KeyFile; agentKeys?: Record<string, string> };
  /** set when the passphrase was generated here: to be shown once */
  recoveryPassphrase?: string;
};

/**
 * A new vault's body: fresh keys wrapped with `passphrase` (a strong one generated when
 * undefined) and to each agent's public key.
 */
export async function newVault(
  client: ApiClient,
  name: string,
  storage: string,
  passphrase: string | undefined,
  agents: string[] = [],
): Promise<NewVault> {
  const keys = generateVaultKeys();
  const recoveryPassphrase = passphrase === undefined ? generatePassphrase() : undefined;
  const keyFile = await wrapKeys(keys, passphrase ?? recoveryPassphrase!);
  const body: NewVault['body'] = { name, storage, chunker: DEFAULT_CHUNKER, keyFile };
  if (agents.length > 0) {
    body.agentKeys = {};
    for (const agent of agents) body.agentKeys[agent] = wrapForAgent(keys, await agentPublicKey(client, agent));
  }
  return recoveryPassphrase === undefined ? { body } : { body, recoveryPassphrase };
}

/** The vault's keys, unwrapped from its key file with the passphrase (E_BAD_PASSPHRASE when wrong). */
export async function vaultKeys(client: ApiClient, vault: string, passphrase: string): Promise<VaultKeys> {
  const detail = await client.get<VaultDetailJson>(`/api/vaults/${seg(vault)}`);
  return unwrapKeys(parseKeyFile(detail.keyFile), passphrase);
}

/** Gives `agent` its own copy of the vault's keys, wrapped to its public key. */
export async function grantVault(client: ApiClient, vault: string, agent: string, passphrase: string): Promise<void> {
  const keys = await vaultKeys(client, vault, passphrase);
  const wrapped = wrapForAgent(keys, await agentPublicKey(client, agent));
  await client.put(`/api/vaults/${seg(vault)}/agents/${seg(agent)}`, { wrapped });
}

/** The line that shows a generated recovery passphrase, once. */
export function recoveryLine(vault: string, passphrase: string): string {
  return `recovery passphrase for vault ${vault} (shown once, keep it safe): ${passphrase}`;
}

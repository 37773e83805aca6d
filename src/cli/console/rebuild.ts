// `cairn server rebuild-catalog --storage S --vault V --agent A`: the catalog's snapshots and file
// index restored from a vault (as Bacula's bscan), through a running server as the logged-in
// admin. A vault the catalog lost is adopted first: the storage server's key file is unwrapped
// here with the passphrase and the keys re-wrapped to agent A only; an agent without the vault's
// keys is granted them the same way. The server then has A read the vault and receives the
// index; this command follows the rebuild until it ends.
import { wrapForAgent } from '../../core/agent-keys.ts';
import { CairnError, ERROR_CODES, type ErrorCode } from '../../core/errors.ts';
import { parseKeyFile, unwrapKeys } from '../../core/keys.ts';
import type { RebuildJson, StorageVaultJson, VaultJson } from '../../protocol/api-types.ts';
import { type ApiClient, seg } from '../api-client.ts';
import { type Command, requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { bool, JSON_HELP, JSON_OPTION, withClient } from './shared.ts';
import { AGENT_KEY_HELP, AGENT_KEY_OPTION, confirmAgentKey, givenAgentKeys, givenPassphrase, grantVault, trustedAgentKeys } from './vault-keys.ts';

const POLL_MS = 300;
const NAME = 'server rebuild-catalog';

async function needPassphrase(values: Record<string, unknown>, why: string): Promise<string> {
  const passphrase = await givenPassphrase(values);
  if (passphrase === undefined) throw new CairnError('E_USAGE', `${NAME}: ${why}: give its passphrase with --passphrase-stdin or CAIRN_PASSPHRASE`);
  return passphrase;
}

/** Makes sure the catalog knows the vault and the agent holds its keys; says what it did. */
async function prepareVault(c: ApiClient, values: Record<string, unknown>, storage: string, vault: string, agent: string): Promise<string | undefined> {
  const known = (await c.get<VaultJson[]>('/api/vaults')).find((v) => v.name === vault);
  if (!known) {
    const kept = await c.get<StorageVaultJson>(`/api/storages/${seg(storage)}/vaults/${seg(vault)}`);
    const passphrase = await needPassphrase(values, `vault ${vault} is not in the catalog`);
    // a wrong passphrase fails here, before anything is adopted
    const keyFile = parseKeyFile(kept.keyFile);
    const keys = await unwrapKeys(keyFile, passphrase);
    const [trusted] = await trustedAgentKeys(c, [agent], givenAgentKeys(values));
    // bound to the vault's id where it has one (a vault made before ids gets one at its next grant)
    const wrapped = wrapForAgent(keys, trusted!.publicKey, keyFile.vaultId);
    await c.post('/api/vaults/adopt', { name: vault, storage, agentKeys: { [agent]: wrapped } });
    await trusted!.pin();
    return `vault ${vault} adopted from storage ${storage}`;
  }
  if (known.storage !== storage) throw new CairnError('E_CONFLICT', `vault ${vault} is on storage ${known.storage}, not ${storage}`);
  if (known.agents.includes(agent)) {
    await confirmAgentKey(c, agent, givenAgentKeys(values));
    return undefined;
  }
  await grantVault(c, vault, agent, await needPassphrase(values, `agent ${agent} holds no keys for vault ${vault}`), givenAgentKeys(values));
  return `agent ${agent} granted the keys of vault ${vault}`;
}

/** Polls the rebuild until it ends. */
async function follow(c: ApiClient, started: RebuildJson): Promise<RebuildJson> {
  let r = started;
  while (r.status === 'running') {
    await new Promise((res) => setTimeout(res, POLL_MS));
    r = await c.get<RebuildJson>(`/api/rebuilds/${r.id}`);
  }
  return r;
}

function failure(r: RebuildJson): CairnError {
  const code = r.error && Object.hasOwn(ERROR_CODES, r.error.code) ? (r.error.code as ErrorCode) : 'E_INTERNAL';
  const message = r.error?.message ?? 'failed';
  return new CairnError(code === 'E_USAGE' ? 'E_INTERNAL' : code, `rebuild of the catalog from vault ${r.vault} failed: ${message} (${r.snapshots} snapshot(s) added before)`);
}

const rebuildCatalog: Command = {
  name: NAME,
  summary: "restore the catalog's snapshots and file index from a vault (read by an agent holding its keys)",
  usage: '--storage S --vault V --agent A [--passphrase-stdin] [--agent-key FPR] [--json]',
  example: 'server rebuild-catalog --storage nas --vault ann.nas --agent laptop --passphrase-stdin',
  help: {
    ...JSON_HELP,
    storage: 'the storage server holding the vault (required)',
    vault: 'the vault to read (required)',
    agent: 'the agent that reads it, granted its keys when it has none (required)',
    'passphrase-stdin': "read the vault's passphrase from stdin (else CAIRN_PASSPHRASE); needed for a vault the catalog lost or an agent without its keys",
    ...AGENT_KEY_HELP,
  },
  options: { storage: { type: 'string' }, vault: { type: 'string' }, agent: { type: 'string' }, 'passphrase-stdin': { type: 'boolean' }, ...AGENT_KEY_OPTION, ...JSON_OPTION },
  async run({ values }) {
    const storage = requireString(values, 'storage', NAME);
    const vault = requireString(values, 'vault', NAME);
    const agent = requireString(values, 'agent', NAME);
    givenAgentKeys(values); // a malformed fingerprint is bad usage before anything is asked
    const json = bool(values, 'json');
    const { note, result } = await withClient(async (c) => {
      const note = await prepareVault(c, values, storage, vault, agent);
      const started = await c.post<RebuildJson>('/api/rebuilds', { storage, vault, agent });
      return { note, result: await follow(c, started) };
    });
    if (json) printJson(result);
    if (result.status !== 'succeeded') throw failure(result);
    if (!json) {
      if (note) process.stdout.write(`${note}\n`);
      process.stdout.write(`rebuilt ${result.snapshots} snapshots (${result.files} files) from vault ${vault}\n`);
      for (const w of result.warnings) process.stderr.write(`warning: ${w.reason}\n`);
    }
    return 0;
  },
};

export const rebuildCommands: Command[] = [rebuildCatalog];

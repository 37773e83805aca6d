// `cairn vault create|list|grant|passwd|scrub`: vaults, their keys made and unwrapped on this
// console only (vault-keys.ts), the server and storage servers keeping wrapped forms; scrub has
// the vault's storage server re-hash its packs without keys.
import { CairnError } from '../../core/errors.ts';
import { newVaultId, parseKeyFile, unwrapKeys, wrapKeys } from '../../core/keys.ts';
import type { ScrubJson, VaultJson } from '../../protocol/api-types.ts';
import { seg } from '../api-client.ts';
import { type Command, readSecret, requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { printable } from '../progress.ts';
import { bool, JSON_HELP, JSON_OPTION, printList, strs, withClient } from './shared.ts';
import { figuresRow } from './parts.ts';
import { AGENT_KEY_HELP, AGENT_KEY_OPTION, givenAgentKeys, givenPassphrase, grantVault, newVault, recoveryLine, type VaultDetailJson } from './vault-keys.ts';

const create: Command = {
  name: 'vault create',
  summary: 'create a vault on a storage server (a passphrase is generated unless given)',
  usage: 'NAME --storage S [--agent A …] [--passphrase-stdin] [--agent-key FPR …] [--json]',
  example: 'vault create ann.nas --storage nas --agent laptop',
  help: {
    ...JSON_HELP,
    storage: 'the storage server to keep it on (required)',
    agent: 'an agent given its keys now',
    'passphrase-stdin': 'read its passphrase from stdin (else CAIRN_PASSPHRASE, else one is generated and shown once)',
    ...AGENT_KEY_HELP,
  },
  options: { storage: { type: 'string' }, agent: { type: 'string', multiple: true }, 'passphrase-stdin': { type: 'boolean' }, ...AGENT_KEY_OPTION, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const name = positionals[0]!;
    const storage = requireString(values, 'storage', 'vault create');
    const agentKeys = givenAgentKeys(values);
    const agents = strs(values, 'agent');
    if (agentKeys.length > 0 && agents.length === 0) throw new CairnError('E_USAGE', 'vault create: --agent-key goes with --agent (the agents whose keys are wrapped)');
    const passphrase = await givenPassphrase(values);
    const { vault, recoveryPassphrase } = await withClient(async (c) => {
      const made = await newVault(c, name, storage, passphrase, agents, agentKeys);
      await made.pin(); // before the vault exists: nothing after it may lose its generated passphrase
      return { vault: await c.post<VaultJson>('/api/vaults', made.body), recoveryPassphrase: made.recoveryPassphrase };
    });
    if (bool(values, 'json')) printJson(recoveryPassphrase === undefined ? vault : { ...vault, recoveryPassphrase });
    else {
      process.stdout.write(`vault ${vault.name} created on storage ${vault.storage}\n`);
      if (recoveryPassphrase !== undefined) process.stdout.write(`${recoveryLine(vault.name, recoveryPassphrase)}\n`);
    }
    return 0;
  },
};

const list: Command = {
  name: 'vault list',
  summary: 'list vaults, the agents holding their keys, and their bytes stored and logical',
  usage: '[--json]',
  example: 'vault list',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const vaults = await withClient((c) => c.get<VaultJson[]>('/api/vaults'));
    printList(vaults, bool(values, 'json'), (v) => ({
      name: v.name,
      storage: v.storage,
      owner: v.owner,
      agents: v.agents,
      createdAt: v.createdAt,
      ...figuresRow(v),
    }));
    return 0;
  },
};

const grant: Command = {
  name: 'vault grant',
  summary: "give an agent the vault's keys (unwrapped here with the passphrase)",
  usage: 'NAME --agent A [--passphrase-stdin] [--agent-key FPR]',
  example: 'vault grant ann.nas --agent laptop --passphrase-stdin',
  help: {
    agent: 'the agent to give the keys to (required)',
    'passphrase-stdin': "read the vault's passphrase from stdin (else CAIRN_PASSPHRASE)",
    ...AGENT_KEY_HELP,
  },
  options: { agent: { type: 'string' }, 'passphrase-stdin': { type: 'boolean' }, ...AGENT_KEY_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const vault = positionals[0]!;
    const agent = requireString(values, 'agent', 'vault grant');
    const agentKeys = givenAgentKeys(values);
    const passphrase = await readSecret(bool(values, 'passphrase-stdin'), 'CAIRN_PASSPHRASE', 'passphrase');
    await withClient((c) => grantVault(c, vault, agent, passphrase, agentKeys));
    process.stdout.write(`agent ${agent} now holds the keys of vault ${vault}\n`);
    return 0;
  },
};

/** All of stdin's lines (without line ends). */
async function readStdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/);
}

/** Old and new passphrases: CAIRN_PASSPHRASE + CAIRN_NEW_PASSPHRASE, else stdin lines 1 and 2. */
async function passphrasesToChange(): Promise<{ old: string; next: string }> {
  const fromEnv = { old: process.env.CAIRN_PASSPHRASE, next: process.env.CAIRN_NEW_PASSPHRASE };
  if (fromEnv.old && fromEnv.next) return { old: fromEnv.old, next: fromEnv.next };
  const how = 'give the old and the new passphrase on stdin (two lines) or in CAIRN_PASSPHRASE and CAIRN_NEW_PASSPHRASE';
  if (process.stdin.isTTY) throw new CairnError('E_USAGE', `vault passwd: ${how}`);
  const [old = '', next = ''] = await readStdinLines();
  if (old === '' || next === '') throw new CairnError('E_USAGE', `vault passwd: ${how}`);
  return { old, next };
}

const passwd: Command = {
  name: 'vault passwd',
  summary: "change a vault's passphrase (old and new on stdin, two lines)",
  usage: 'NAME   (old and new passphrase on stdin, two lines, or in CAIRN_PASSPHRASE and CAIRN_NEW_PASSPHRASE)',
  example: 'vault passwd ann.nas < passphrases.txt',
  help: {},
  options: {},
  positionals: [1, 1],
  async run({ positionals }) {
    const vault = positionals[0]!;
    const { old, next } = await passphrasesToChange();
    await withClient(async (c) => {
      const detail = await c.get<VaultDetailJson>(`/api/vaults/${seg(vault)}`);
      const keyFile = parseKeyFile(detail.keyFile);
      const keys = await unwrapKeys(keyFile, old);
      // the same keys, so the same id and check value (a vault made before them gets both now)
      await c.put(`/api/vaults/${seg(vault)}/key-file`, { keyFile: await wrapKeys(keys, next, keyFile.vaultId ?? newVaultId()) });
    });
    process.stdout.write(`vault ${vault}: passphrase changed\n`);
    return 0;
  },
};

const scrub: Command = {
  name: 'vault scrub',
  summary: "re-hash every pack of a vault on its storage server (no keys); exit 1 when one is damaged",
  usage: 'NAME [--json]',
  example: 'vault scrub ann.nas',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const vault = positionals[0]!;
    const report = await withClient((c) => c.post<ScrubJson>(`/api/vaults/${seg(vault)}/scrub`, {}));
    const status = report.damagedTotal === 0 ? 0 : 1;
    if (bool(values, 'json')) {
      printJson(report);
      return status;
    }
    for (const d of report.damaged) process.stdout.write(`damaged ${printable(d.pack)}: ${printable(d.reason)}\n`);
    const unlisted = report.damagedTotal - report.damaged.length;
    const summary = `vault ${report.vault} on ${report.storage}: ${report.packs} packs, ${report.bytes} bytes checked, ${report.damagedTotal} damaged${unlisted > 0 ? ` (${unlisted} not listed)` : ''}`;
    if (status === 0) process.stdout.write(`${summary}\n`);
    else process.stderr.write(`cairn: ${summary}\n`);
    return status;
  },
};

export const vaultCommands: Command[] = [create, list, grant, passwd, scrub];

// `cairn verify SNAPSHOT --level catalog|data|disk`: asks the server to have an agent (the
// snapshot's own, or --agent) check a snapshot: `catalog` every chunk it references is on the
// storage server, `data` every chunk reads back and re-hashes, `disk` the live files match it.
// Damage ends the run failed with every damaged file listed (exit 1). Given the passphrase, an
// agent without the vault's keys is granted them first.
import { CairnError } from '../../core/errors.ts';
import type { RunJson } from '../../protocol/api-types.ts';
import { VERIFY_LEVELS } from '../../protocol/control.ts';
import { type Command, requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { printEndedRun, waitForRun } from '../run-output.ts';
import { bool, JSON_HELP, JSON_OPTION, oneOf, snapshotArg, str, withClient } from './shared.ts';
import { AGENT_KEY_HELP, AGENT_KEY_OPTION, givenAgentKeys, givenPassphrase, grantForSnapshot } from './vault-keys.ts';

const verify: Command = {
  name: 'verify',
  summary: 'verify a snapshot (--level catalog|data|disk, --agent A, --wait)',
  usage: 'SNAPSHOT --level catalog|data|disk [--agent A] [--wait] [--passphrase-stdin] [--agent-key FPR] [--json]',
  example: 'verify 0123abcd --level data --wait',
  help: {
    ...JSON_HELP,
    level: 'catalog: every chunk is on the storage; data: every chunk reads back and re-hashes; disk: the live files match (required)',
    agent: "the agent that checks (default the snapshot's own)",
    wait: 'follow the run until it ends (exit 1 on damage or failure)',
    'passphrase-stdin': "read the vault's passphrase from stdin (else CAIRN_PASSPHRASE) to grant --agent its keys",
    ...AGENT_KEY_HELP,
  },
  options: {
    level: { type: 'string' },
    agent: { type: 'string' },
    wait: { type: 'boolean' },
    'passphrase-stdin': { type: 'boolean' },
    ...AGENT_KEY_OPTION,
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const level = oneOf(requireString(values, 'level', 'verify'), VERIFY_LEVELS, 'level');
    const agent = str(values, 'agent');
    const snapshot = snapshotArg(positionals[0]!);
    const json = bool(values, 'json');
    const agentKeys = givenAgentKeys(values);
    const passphrase = await givenPassphrase(values);
    if (agentKeys.length > 0 && (passphrase === undefined || agent === undefined))
      throw new CairnError('E_USAGE', `verify: --agent-key goes with --agent and --passphrase-stdin (it checks the key the agent is granted the vault's keys with)`);
    return withClient(async (c) => {
      if (passphrase !== undefined && agent !== undefined) await grantForSnapshot(c, snapshot, agent, passphrase, agentKeys);
      const queued = await c.post<RunJson>('/api/verifies', { snapshot, level, ...(agent !== undefined ? { agent } : {}) });
      if (!bool(values, 'wait')) {
        if (json) printJson(queued);
        else process.stdout.write(`run ${queued.id} queued\n`);
        return 0;
      }
      return printEndedRun(await waitForRun(c, queued.id), json);
    });
  },
};

export const verifyCommands: Command[] = [verify];

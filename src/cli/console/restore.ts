// `cairn restore SNAPSHOT`: asks the server to have an agent (the snapshot's own, or --agent)
// write the snapshot back, at its original paths or under --to (SPEC.md "Where a restore
// writes"). Given the passphrase, an agent without the vault's keys is granted them first.
import { CairnError } from '../../core/errors.ts';
import { CONFLICT_POLICIES } from '../../protocol/api-schema.ts';
import type { RestoreRequest, RunJson } from '../../protocol/api-types.ts';
import type { Command } from '../command.ts';
import { printJson } from '../output.ts';
import { printEndedRun, totalForDisplay, waitForRun } from '../run-output.ts';
import { absolutePath, bool, JSON_HELP, JSON_OPTION, oneOf, snapshotArg, str, strs, withClient } from './shared.ts';
import { AGENT_KEY_HELP, AGENT_KEY_OPTION, givenAgentKeys, givenPassphrase, grantForSnapshot } from './vault-keys.ts';

/** The POST /api/restores body from the flags (E_USAGE for relative paths or an unknown policy). */
export function restoreRequest(snapshot: string, values: Record<string, unknown>): RestoreRequest {
  const request: RestoreRequest = { snapshot };
  const agent = str(values, 'agent');
  const to = str(values, 'to');
  const include = strs(values, 'include');
  const conflict = str(values, 'conflict');
  if (agent !== undefined) request.agent = agent;
  if (to !== undefined) request.to = absolutePath(to, 'to');
  if (include.length > 0) request.include = include.map((p) => absolutePath(p, 'include'));
  if (conflict !== undefined) request.conflict = oneOf(conflict, CONFLICT_POLICIES, 'conflict');
  if (bool(values, 'dry-run')) request.dryRun = true;
  return request;
}

const restore: Command = {
  name: 'restore',
  summary: 'restore a snapshot (--to DIR, --agent A, --include PATH, --dry-run, --wait)',
  usage: 'SNAPSHOT [--to DIR] [--agent A] [--include PATH …] [--conflict overwrite|skip|rename] [--dry-run] [--wait] [--passphrase-stdin] [--agent-key FPR] [--json]',
  example: 'restore 0123abcd --to /tmp/restored --include /home/ann/docs --wait',
  help: {
    ...JSON_HELP,
    to: 'the folder files land under, at their original paths (default the original paths themselves)',
    agent: "the agent that writes them (default the snapshot's own)",
    include: 'an absolute path to restore (default everything)',
    conflict: 'when a file is already there: overwrite, skip or rename (default rename)',
    'dry-run': 'check the restore and write nothing (waits; exit 1 on a blocking problem)',
    wait: 'follow the run until it ends (exit 1 unless it succeeded)',
    'passphrase-stdin': "read the vault's passphrase from stdin (else CAIRN_PASSPHRASE) to grant --agent its keys",
    ...AGENT_KEY_HELP,
  },
  options: {
    to: { type: 'string' },
    agent: { type: 'string' },
    include: { type: 'string', multiple: true },
    conflict: { type: 'string' },
    'dry-run': { type: 'boolean' },
    wait: { type: 'boolean' },
    'passphrase-stdin': { type: 'boolean' },
    ...AGENT_KEY_OPTION,
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const request = restoreRequest(snapshotArg(positionals[0]!), values);
    const json = bool(values, 'json');
    const dryRun = request.dryRun === true;
    const agentKeys = givenAgentKeys(values);
    const passphrase = await givenPassphrase(values);
    if (agentKeys.length > 0 && (passphrase === undefined || request.agent === undefined))
      throw new CairnError('E_USAGE', `restore: --agent-key goes with --agent and --passphrase-stdin (it checks the key the agent is granted the vault's keys with)`);
    return withClient(async (c) => {
      if (passphrase !== undefined && request.agent !== undefined) await grantForSnapshot(c, request.snapshot, request.agent, passphrase, agentKeys);
      const queued = await c.post<RunJson>('/api/restores', request);
      if (!bool(values, 'wait') && !dryRun) {
        if (json) printJson(queued);
        else process.stdout.write(`run ${queued.id} queued\n`);
        return 0;
      }
      const total = request.include === undefined ? await totalForDisplay(c, queued) : undefined;
      const ended = await waitForRun(c, queued.id, { totalBytes: total });
      return printEndedRun(ended, json, dryRun);
    });
  },
};

export const restoreCommands: Command[] = [restore];

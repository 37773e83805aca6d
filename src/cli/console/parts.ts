// `cairn agent list|remove` and `cairn storage list|remove`: the parts enrolled with the backup
// server, their status, last contact, round-trip time, version, address and certificate expiry.
import type { PartJson } from '../../protocol/api-types.ts';
import { seg } from '../api-client.ts';
import type { Command } from '../command.ts';
import { CairnError } from '../../core/errors.ts';
import { printJson } from '../output.ts';
import { bool, JSON_OPTION, printList, wholeNumber, withClient } from './shared.ts';

type PartKind = 'agent' | 'storage';

/** The table row of a part: name status lastSeen rttMs version address certExpires. */
export function partRow(p: PartJson): Record<string, unknown> {
  return { name: p.name, status: p.status, lastSeen: p.lastSeen, rttMs: p.rttMs, version: p.version, address: p.address, certExpires: p.certExpires, maxRuns: p.maxRuns };
}

function partCommands(kind: PartKind): Command[] {
  const plural = kind === 'agent' ? 'agents' : 'storages';
  return [
    {
      name: `${kind} list`,
      summary: `list ${kind === 'agent' ? 'agents' : 'storage servers'}: status, last seen, rtt, version, certificate expiry`,
      options: { ...JSON_OPTION },
      async run({ values }) {
        const parts = await withClient((c) => c.get<PartJson[]>(`/api/${plural}`));
        printList(parts, bool(values, 'json'), partRow);
        return 0;
      },
    },
    {
      name: `${kind} set`,
      summary: `set ${kind === 'agent' ? 'an agent' : 'a storage server'}'s own limit of runs at once (--max-runs N)`,
      options: { 'max-runs': { type: 'string' }, ...JSON_OPTION },
      positionals: [1, 1],
      async run({ values, positionals }) {
        const name = positionals[0]!;
        const given = values['max-runs'];
        if (given === undefined) throw new CairnError('E_USAGE', `${kind} set: --max-runs N is required`);
        const maxRuns = wholeNumber(String(given), 'max-runs', 1);
        const part = await withClient((c) => c.put<PartJson>(`/api/${plural}/${seg(name)}`, { maxRuns }));
        if (bool(values, 'json')) printJson(part);
        else process.stdout.write(`${kind} ${name}: at most ${part.maxRuns} run(s) at once\n`);
        return 0;
      },
    },
    {
      name: `${kind} remove`,
      summary: `remove ${kind === 'agent' ? 'an agent' : 'a storage server'}: it is refused from then on`,
      options: {},
      positionals: [1, 1],
      async run({ positionals }) {
        const name = positionals[0]!;
        await withClient((c) => c.delete(`/api/${plural}/${seg(name)}`));
        process.stdout.write(`${kind} ${name} removed\n`);
        return 0;
      },
    },
  ];
}

export const agentConsoleCommands: Command[] = partCommands('agent');
export const storageConsoleCommands: Command[] = partCommands('storage');

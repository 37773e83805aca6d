// `cairn net status`: every agent and storage server in one table, with its status, last
// contact and round-trip time to the backup server.
import type { PartJson } from '../../protocol/api-types.ts';
import type { Command } from '../command.ts';
import { partRow } from './parts.ts';
import { bool, JSON_HELP, JSON_OPTION, printList, withClient } from './shared.ts';

type NetPart = PartJson & { kind: 'agent' | 'storage' };

const status: Command = {
  name: 'net status',
  summary: 'agents and storage servers: online or not, last seen, rtt',
  usage: '[--json]',
  example: 'net status',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const parts = await withClient(async (c) => {
      const [agents, storages] = await Promise.all([c.get<PartJson[]>('/api/agents'), c.get<PartJson[]>('/api/storages')]);
      return [
        ...agents.map((p): NetPart => ({ kind: 'agent', ...p })),
        ...storages.map((p): NetPart => ({ kind: 'storage', ...p })),
      ];
    });
    printList(parts, bool(values, 'json'), (p) => ({ kind: p.kind, ...partRow(p) }));
    return 0;
  },
};

export const netCommands: Command[] = [status];

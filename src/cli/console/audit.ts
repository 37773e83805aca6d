// `cairn audit`: who did what on the backup server, and whether it was allowed.
import type { Command } from '../command.ts';
import { bool, JSON_HELP, JSON_OPTION, printList, withClient } from './shared.ts';

type AuditJson = { time: string; who: string | null; what: string; result: string };

const audit: Command = {
  name: 'audit',
  summary: 'show the audit log (auditor or admin)',
  usage: '[--json]',
  example: 'audit --json',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const entries = await withClient((c) => c.get<AuditJson[]>('/api/audit'));
    printList(entries, bool(values, 'json'), (e) => ({ time: e.time, who: e.who, what: e.what, result: e.result }));
    return 0;
  },
};

export const auditCommands: Command[] = [audit];

// `cairn audit`: who did what on the backup server, from where, to what, and whether it was allowed.
import { CairnError } from '../../core/errors.ts';
import { type Command, parseDuration } from '../command.ts';
import { withQuery } from '../api-client.ts';
import { bool, JSON_HELP, JSON_OPTION, printList, str, wholeNumber, withClient } from './shared.ts';

type AuditJson = { time: string; who: string | null; what: string; result: string; address: string | null; action: string | null; target: string | null };

/** The server keeps at most this many per answer (MAX_AUDIT_LIMIT). */
const MAX_LIMIT = 10_000;

const audit: Command = {
  name: 'audit',
  summary: 'show the audit log, newest first (auditor or admin)',
  usage: '[--since D] [--user U] [--limit N] [--json]',
  example: 'audit --since 1h --user admin --limit 5',
  help: {
    since: 'only entries of the last D (30s, 15m, 6h, 7d)',
    user: 'only entries by user U (`scheduler` for what the server did by itself, `anonymous` for failed logins)',
    limit: `at most N entries (default 1000, at most ${MAX_LIMIT})`,
    ...JSON_HELP,
  },
  options: { since: { type: 'string' }, user: { type: 'string' }, limit: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const since = str(values, 'since');
    const limit = str(values, 'limit');
    const user = str(values, 'user');
    if (user === '') throw new CairnError('E_USAGE', '--user must name a user');
    const n = limit === undefined ? undefined : wholeNumber(limit, 'limit', 1);
    if (n !== undefined && n > MAX_LIMIT) throw new CairnError('E_USAGE', `--limit must be at most ${MAX_LIMIT}: ${limit}`);
    const path = withQuery('/api/audit', {
      since: since === undefined ? undefined : new Date(Date.now() - parseDuration(since, 'since') * 1000).toISOString(),
      user,
      limit: n,
    });
    const entries = await withClient((c) => c.get<AuditJson[]>(path));
    printList(entries, bool(values, 'json'), (e) => ({
      time: e.time,
      who: e.who,
      address: e.address,
      action: e.action ?? e.what,
      target: e.target,
      result: e.result,
    }));
    return 0;
  },
};

export const auditCommands: Command[] = [audit];

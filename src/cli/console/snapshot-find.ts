// `cairn snapshot find --job J NAME-GLOB`: files named like a glob in a job's snapshots, newest
// snapshot first, answered from the server's file index (GET /api/jobs/:name/find).
import type { FindAnswerJson } from '../../protocol/api-types.ts';
import { CairnError } from '../../core/errors.ts';
import { seg, withQuery } from '../api-client.ts';
import type { Command } from '../command.ts';
import { requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { formatBytes } from '../progress.ts';
import { bool, JSON_HELP, JSON_OPTION, printList, str, wholeNumber, withClient } from './shared.ts';

/** The server's bound on one answer. */
const MAX_LIMIT = 1000;

export const snapshotFind: Command = {
  name: 'snapshot find',
  summary: "find files by base name in a job's snapshots, newest snapshot first (glob, case-sensitive: * ? [abc] [a-z] [!abc], [*] a literal *)",
  usage: '--job J NAME-GLOB [--limit N] [--json]',
  example: "snapshot find --job home '*.pdf'",
  help: {
    job: 'the job whose snapshots to search (required)',
    limit: `at most this many matches, 1 to ${MAX_LIMIT} (default ${MAX_LIMIT})`,
    ...JSON_HELP,
  },
  options: { job: { type: 'string' }, limit: { type: 'string' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const job = requireString(values, 'job', 'snapshot find');
    const glob = positionals[0]!;
    if (glob === '' || glob.includes('/')) throw new CairnError('E_USAGE', `snapshot find: NAME-GLOB is matched against base names and cannot be empty or hold a /: ${glob}`);
    const limitText = str(values, 'limit');
    const limit = limitText === undefined ? undefined : wholeNumber(limitText, 'limit', 1);
    if (limit !== undefined && limit > MAX_LIMIT) throw new CairnError('E_USAGE', `--limit must be at most ${MAX_LIMIT}: ${limitText}`);
    const answer = await withClient((c) => c.get<FindAnswerJson>(withQuery(`/api/jobs/${seg(job)}/find`, { name: glob, limit })));
    if (bool(values, 'json')) {
      printJson(answer);
      return 0;
    }
    printList(answer.matches, false, (m) => ({
      snapshot: m.snapshot.slice(0, 12),
      time: m.time,
      type: m.type,
      size: m.type === 'file' ? formatBytes(m.size) : '',
      mtime: m.mtime,
      path: m.path,
    }));
    if (answer.truncated) process.stderr.write(`more files matched: showing the first ${answer.matches.length} (--limit, at most ${MAX_LIMIT}, or a narrower glob)\n`);
    return 0;
  },
};

// Commands of SPEC's contract that no work has built yet. They exist, answer --help, and refuse
// with "not supported yet" (exit 2) rather than be unknown, so scripts and people get a clear
// answer instead of a guess.
import { CairnError } from '../../core/errors.ts';
import type { Command } from '../command.ts';

function notYet(name: string, summary: string, usage: string, example: string, help: Record<string, string>, positionals: [number, number]): Command {
  return {
    name,
    summary: `${summary} (not supported yet)`,
    usage,
    example,
    help,
    options: Object.fromEntries(Object.keys(help).map((k) => [k, { type: k === 'wait' || k === 'json' ? ('boolean' as const) : ('string' as const) }])),
    positionals,
    async run() {
      throw new CairnError('E_USAGE', `${name}: not supported yet`);
    },
  };
}

export const copyCommand = notYet(
  'copy',
  'replicate a snapshot to another storage server, sending only the chunks it lacks',
  'SNAPSHOT --to-storage S [--wait] [--json]',
  'copy 3f2a9c1e --to-storage offsite --wait',
  { 'to-storage': 'the storage server to copy to', wait: 'wait until the copy ends', json: 'print JSON' },
  [1, 1],
);

export const serverBackupCommand = notYet(
  'server backup',
  "back up the server's own catalog, CA and signing keys into a vault",
  '--vault V [--wait]',
  'server backup --vault admin.offsite --wait',
  { vault: 'the vault to back the server up into', wait: 'wait until the backup ends' },
  [0, 0],
);

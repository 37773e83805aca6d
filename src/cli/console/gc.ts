// `cairn gc --storage S [--confirm CODE] [--wait] [--json]`: a garbage collection on a storage
// server, without keys, as a run of kind gc. On append-only storage a gc without the code only
// marks: it says what it would free and that the code is on the storage server's own machine.
import type { RunJson } from '../../protocol/api-types.ts';
import { type Command, requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { formatBytes } from '../progress.ts';
import { waitForRun } from '../run-output.ts';
import { bool, JSON_HELP, JSON_OPTION, str, withClient } from './shared.ts';

const gc: Command = {
  name: 'gc',
  summary: 'collect unreferenced chunks on a storage server (--confirm CODE on append-only storage)',
  usage: '--storage S [--confirm CODE] [--wait] [--json]',
  example: 'gc --storage nas --wait',
  help: {
    ...JSON_HELP,
    storage: 'the storage server to collect on (required)',
    confirm: 'on append-only storage, the code in DATA/gc-confirm there (without it a gc only marks)',
    wait: 'follow the run until it ends (exit 1 unless it succeeded)',
  },
  options: { storage: { type: 'string' }, confirm: { type: 'string' }, wait: { type: 'boolean' }, ...JSON_OPTION },
  async run({ values }) {
    const storage = requireString(values, 'storage', 'gc');
    const confirm = str(values, 'confirm');
    const json = bool(values, 'json');
    return withClient(async (c) => {
      const queued = await c.post<RunJson>('/api/gc', { storage, ...(confirm !== undefined ? { confirm } : {}) });
      if (!bool(values, 'wait')) {
        if (json) printJson(queued);
        else process.stdout.write(`run ${queued.id} queued\n`);
        return 0;
      }
      const run = await waitForRun(c, queued.id);
      if (json) printJson(run);
      else if (run.status !== 'succeeded') process.stderr.write(`cairn: gc run ${run.id} ${run.status}: ${run.error ?? ''}\n`);
      else if (run.confirmationNeeded)
        process.stdout.write(`would free ${formatBytes(run.bytesFreed ?? 0)} (${run.chunksDeleted} chunks)\nconfirmation needed: read DATA/gc-confirm on storage ${storage}\n`);
      else process.stdout.write(`freed ${formatBytes(run.bytesFreed ?? 0)}: ${run.chunksDeleted} chunks deleted, ${run.packsRewritten} packs rewritten, ${run.packsDeleted} deleted\n`);
      return run.status === 'succeeded' ? 0 : 1;
    });
  },
};

export const gcCommands: Command[] = [gc];

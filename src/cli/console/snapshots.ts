// `cairn snapshot list|ls|find|forget`: the snapshots the catalog knows, and the files of one of them at a
// path (answered from the server's file index, without asking the agent).
import { type LsEntryJson, NEXT_AFTER_HEADER, type SnapshotJson } from '../../protocol/api-types.ts';
import { type ApiClient, seg, withQuery } from '../api-client.ts';
import type { Command } from '../command.ts';
import { formatBytes } from '../progress.ts';
import { snapshotForget } from './forget.ts';
import { snapshotFind } from './snapshot-find.ts';
import { absolutePath, bool, JSON_HELP, JSON_OPTION, printList, snapshotArg, str, withClient } from './shared.ts';

const list: Command = {
  name: 'snapshot list',
  summary: 'list snapshots, newest first (--agent A, --job J)',
  usage: '[--agent A] [--job J] [--json]',
  example: 'snapshot list --job home',
  help: {
    ...JSON_HELP,
    agent: "only this agent's snapshots",
    job: "only this job's snapshots",
  },
  options: { agent: { type: 'string' }, job: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const path = withQuery('/api/snapshots', { agent: str(values, 'agent'), job: str(values, 'job') });
    const snapshots = await withClient((c) => c.get<SnapshotJson[]>(path));
    printList(snapshots, bool(values, 'json'), (s) => ({
      id: s.id.slice(0, 12),
      time: s.time,
      job: s.job,
      agent: s.agent,
      storage: s.storage,
      vault: s.vault,
      level: s.level,
      files: s.files,
      bytes: formatBytes(s.bytes),
    }));
    return 0;
  },
};

const ls: Command = {
  name: 'snapshot ls',
  summary: "list a snapshot's directory (default /)",
  usage: 'SNAPSHOT [PATH] [--json]',
  example: 'snapshot ls 0123abcd /home/ann',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 2],
  async run({ values, positionals }) {
    const dir = positionals[1] === undefined ? '/' : absolutePath(positionals[1], 'path');
    const entries = await withClient((c) => lsAll(c, snapshotArg(positionals[0]!), dir));
    printList(entries, bool(values, 'json'), (e) => ({
      mode: modeText(e.type, e.mode),
      owner: e.uid === null ? '' : `${e.uid}:${e.gid}`,
      size: e.type === 'file' ? e.size : '',
      mtime: e.mtime,
      name: e.target === null ? e.name : `${e.name} -> ${e.target}`,
    }));
    return 0;
  },
};

/** Entries asked for per page: the most the server gives, so a huge directory takes few round trips. */
const LS_PAGE_MAX = 10_000;

/** Every entry of a directory, following the server's pages (each names the next one's `after`). */
async function lsAll(client: ApiClient, snapshot: string, dir: string): Promise<LsEntryJson[]> {
  const entries: LsEntryJson[] = [];
  let after: string | undefined;
  for (;;) {
    // the header is already %-encoded bytes: appended as is, so a name that is not UTF-8 round-trips
    const path = withQuery(`/api/snapshots/${seg(snapshot)}/ls`, { path: dir, limit: LS_PAGE_MAX }) + (after === undefined ? '' : `&after=${after}`);
    const { value, headers } = await client.getWithHeaders<LsEntryJson[]>(path);
    for (const e of value) entries.push(e);
    const next = headers[NEXT_AFTER_HEADER];
    if (typeof next !== 'string' || next === '' || value.length === 0) return entries;
    after = next;
  }
}

const TYPE_LETTER: Record<string, string> = { dir: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b', socket: 's' };

/** `ls -l`'s mode column (`drwxr-x---`, setuid as `s`, sticky as `t`); the type alone when the index has no mode. */
export function modeText(type: string, mode: number | null): string {
  const letter = TYPE_LETTER[type] ?? '-';
  if (mode === null) return letter;
  // owner, group, others; each with its special bit (setuid, setgid, sticky) shown in the x place
  const triads = [
    { shift: 6, special: 0o4000, letter: 's' },
    { shift: 3, special: 0o2000, letter: 's' },
    { shift: 0, special: 0o1000, letter: 't' },
  ].map(({ shift, special, letter }) => {
    const bits = (mode >> shift) & 7;
    const exec = (bits & 1) !== 0;
    const last = mode & special ? (exec ? letter : letter.toUpperCase()) : exec ? 'x' : '-';
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${last}`;
  });
  return letter + triads.join('');
}

export const snapshotCommands: Command[] = [list, ls, snapshotFind, snapshotForget];

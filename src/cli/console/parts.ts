// `cairn agent list|remove` and `cairn storage list|remove`: the parts enrolled with the backup
// server, their status, last contact, round-trip time, version, address and certificate expiry.
import type { FiguresJson, PartJson } from '../../protocol/api-types.ts';
import { formatBytes } from '../progress.ts';
import { seg } from '../api-client.ts';
import type { Command } from '../command.ts';
import { CairnError } from '../../core/errors.ts';
import { printJson } from '../output.ts';
import { parseCron } from '../../server/schedules.ts';
import { bool, JSON_HELP, JSON_OPTION, printList, wholeNumber, withClient } from './shared.ts';

type PartKind = 'agent' | 'storage';

/** The table row of a part: name status lastSeen rttMs version address certExpires maxRuns; an agent's key fingerprint or a storage server's figures after. */
export function partRow(p: PartJson): Record<string, unknown> {
  const row = { name: p.name, status: p.status, lastSeen: p.lastSeen, rttMs: p.rttMs, version: p.version, address: p.address, certExpires: p.certExpires, maxRuns: p.maxRuns };
  // an agent's key fingerprint, to compare with what `cairn agent key` prints on its machine
  if (p.keyFingerprint !== undefined) return { ...row, keyFingerprint: p.keyFingerprint };
  if (p.bytesLogical === undefined) return row;
  const size = (n: number | null | undefined) => (n === null || n === undefined ? '-' : formatBytes(n));
  return { ...row, ...figuresRow(p as FiguresJson), diskFree: p.diskTotalBytes ? `${size(p.diskFreeBytes)} of ${size(p.diskTotalBytes)}` : '-' };
}

/** stored, logical and dedup columns, readable (`-` until the storage server reported them). */
export function figuresRow(f: FiguresJson): Record<string, string> {
  return { stored: f.bytesStored === null ? '-' : formatBytes(f.bytesStored), logical: formatBytes(f.bytesLogical), dedup: f.dedupRatio === null ? '-' : `${f.dedupRatio}x` };
}

/** A gc schedule's five-field cron, checked as the server checks it. */
function gcCron(text: string): string {
  try {
    parseCron(text);
  } catch (e) {
    throw new CairnError('E_USAGE', `--gc-schedule: ${(e as Error).message.replace(/^schedule: /, '')}`);
  }
  return text.trim().split(/\s+/).join(' ');
}

function partCommands(kind: PartKind): Command[] {
  const plural = kind === 'agent' ? 'agents' : 'storages';
  return [
    {
      name: `${kind} list`,
      summary: `list ${kind === 'agent' ? 'agents' : 'storage servers'}: status, last seen, rtt, version, certificate expiry`,
      usage: '[--json]',
      example: `${kind} list`,
      help: JSON_HELP,
      options: { ...JSON_OPTION },
      async run({ values }) {
        const parts = await withClient((c) => c.get<PartJson[]>(`/api/${plural}`));
        printList(parts, bool(values, 'json'), partRow);
        return 0;
      },
    },
    {
      name: `${kind} set`,
      summary:
        kind === 'agent'
          ? "set an agent's own limit of runs at once (--max-runs N)"
          : "set a storage server's limit of runs at once (--max-runs N) or its gc schedule (--gc-schedule CRON|none)",
      usage: kind === 'agent' ? 'NAME --max-runs N [--json]' : 'NAME [--max-runs N] [--gc-schedule CRON|none] [--json]',
      example: kind === 'agent' ? 'agent set laptop --max-runs 2' : "storage set nas --gc-schedule '30 4 * * 0'",
      help: {
        'max-runs': `runs at once on this ${kind === 'agent' ? 'agent' : 'storage server'}, at least 1`,
        ...(kind === 'storage' ? { 'gc-schedule': 'when gc runs, a five-field cron; none stops it' } : {}),
        ...JSON_HELP,
      },
      options: { 'max-runs': { type: 'string' }, ...(kind === 'storage' ? { 'gc-schedule': { type: 'string' as const } } : {}), ...JSON_OPTION },
      positionals: [1, 1],
      async run({ values, positionals }) {
        const name = positionals[0]!;
        const body: { maxRuns?: number; gcSchedule?: string } = {};
        if (values['max-runs'] !== undefined) body.maxRuns = wholeNumber(String(values['max-runs']), 'max-runs', 1);
        const gc = values['gc-schedule'];
        if (gc !== undefined) body.gcSchedule = String(gc) === 'none' ? '' : gcCron(String(gc));
        if (Object.keys(body).length === 0) throw new CairnError('E_USAGE', `${kind} set: give --max-runs N${kind === 'storage' ? ' or --gc-schedule CRON' : ''}`);
        const part = await withClient((c) => c.put<PartJson>(`/api/${plural}/${seg(name)}`, body));
        if (bool(values, 'json')) printJson(part);
        else process.stdout.write(`${kind} ${name}: at most ${part.maxRuns} run(s) at once${part.gcSchedule !== undefined ? `, gc ${part.gcSchedule ?? 'not scheduled'}` : ''}\n`);
        return 0;
      },
    },
    {
      name: `${kind} remove`,
      summary: `remove ${kind === 'agent' ? 'an agent' : 'a storage server'}: it is refused from then on`,
      usage: 'NAME',
      example: `${kind} remove ${kind === 'agent' ? 'laptop' : 'nas'}`,
      help: {},
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

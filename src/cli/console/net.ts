// `cairn net status|history|test`: every agent and storage server with its status, last
// heartbeat and round-trip times; one part's downsampled history; and a measured upload from
// an agent to a storage server (protocol/nettest.ts).
import { CairnError } from '../../core/errors.ts';
import type { NetSampleJson, NetStatusJson, NetTestJson } from '../../protocol/api-types.ts';
import { NETTEST_DEFAULT_BYTES, NETTEST_MAX_BYTES } from '../../protocol/nettest.ts';
import { withQuery } from '../api-client.ts';
import { type Command, parseDuration, parseSize, requireString } from '../command.ts';
import { bool, JSON_HELP, JSON_OPTION, printDone, printList, str, withClient } from './shared.ts';

const status: Command = {
  name: 'net status',
  summary: 'agents and storage servers: online or not, last heartbeat, rtt now and its p50/p99 over the last hour',
  usage: '[--json]',
  example: 'net status',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const parts = await withClient((c) => c.get<NetStatusJson[]>('/api/net/status'));
    printList(parts, bool(values, 'json'), (p) => ({ kind: p.kind, name: p.name, status: p.status, since: p.since, lastSeen: p.lastSeen, rttMs: p.rttMs, p50: p.rttP50Ms, p99: p.rttP99Ms }));
    return 0;
  },
};

const history: Command = {
  name: 'net history',
  summary: "a part's network history: per-minute samples within 24 h, hourly ones beyond (kept 30 days)",
  usage: 'agent:NAME|storage:NAME [--since DURATION] [--json]',
  example: 'net history storage:nas --since 6h',
  help: { since: 'how far back (30m, 6h, 7d); default 24h', ...JSON_HELP },
  options: { since: { type: 'string' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const part = positionals[0]!;
    if (!/^(agent|storage):./.test(part)) throw new CairnError('E_USAGE', `net history: name the part as agent:NAME or storage:NAME, not ${part}`);
    const since = str(values, 'since');
    if (since !== undefined && parseDuration(since, 'since') <= 0) throw new CairnError('E_USAGE', '--since must be longer than 0');
    const samples = await withClient((c) => c.get<NetSampleJson[]>(withQuery('/api/net/history', { part, since })));
    printList(samples, bool(values, 'json'), (s) => ({ time: s.time, online: s.online ? 'yes' : 'no', rttMs: s.rttMs, p99: s.rttP99Ms }));
    return 0;
  },
};

const test: Command = {
  name: 'net test',
  summary: 'measure agent → storage server: the agent uploads random bytes the storage server drops, then times 5 small requests',
  usage: '--agent A --storage S [--size SIZE] [--json]',
  example: 'net test --agent laptop --storage nas --size 256M',
  help: { agent: 'the agent that sends', storage: 'the storage server that receives (and keeps nothing)', size: 'bytes to send (k, M, G): default 64M, at most 1G', ...JSON_HELP },
  options: { agent: { type: 'string' }, storage: { type: 'string' }, size: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const agent = requireString(values, 'agent', 'net test');
    const storage = requireString(values, 'storage', 'net test');
    const text = str(values, 'size');
    const bytes = text === undefined ? NETTEST_DEFAULT_BYTES : parseSize(text, 'size');
    if (bytes < 1 || bytes > NETTEST_MAX_BYTES) throw new CairnError('E_USAGE', `--size must be between 1 byte and 1G, not ${text}`);
    const result = await withClient((c) => c.post<NetTestJson>('/api/net/test', { agent, storage, bytes }));
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    printDone(bool(values, 'json'), result, `agent ${agent} → storage ${storage}: ${mib(result.bytes)} MiB in ${result.seconds.toFixed(2)} s, ${mib(result.throughputBytesPerSec)} MiB/s; rtt ${result.rttMs} ms (median of 5)`);
    return 0;
  },
};

export const netCommands: Command[] = [status, history, test];

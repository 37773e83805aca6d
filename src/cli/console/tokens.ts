// `cairn token create|list|revoke`: one-time enrollment tokens for an agent or a storage server
// (they carry the server CA's fingerprint, so the part authenticates the server too), and API
// tokens for scripts (`cairn login --api-token-stdin`), listed and revoked by id.
import { CairnError } from '../../core/errors.ts';
import { durationSeconds, durationText } from '../../core/durations.ts';
import { type ApiTokenJson, TOKEN_TTL } from '../../protocol/api-token.ts';
import type { Command } from '../command.ts';
import { requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { bool, JSON_HELP, JSON_OPTION, oneOf, printList, str, wholeNumber, withClient } from './shared.ts';

const KINDS = ['agent', 'storage', 'api'] as const;

/** --ttl in seconds: a duration or a bare number of seconds, above zero and within the kind's longest (exit 2 naming it). */
function ttlSeconds(text: string, kind: 'api' | 'enrollment'): number {
  const seconds = /^\d+$/.test(text) ? wholeNumber(text, 'ttl', 1) : durationSeconds(text);
  if (seconds === undefined) throw new CairnError('E_USAGE', `--ttl must be a whole number of seconds or a duration (30s, 15m, 6h, 90d): ${text}`);
  if (seconds === 0) throw new CairnError('E_USAGE', '--ttl must be above zero');
  const max = TOKEN_TTL[kind].max;
  if (seconds > max) throw new CairnError('E_USAGE', `--ttl ${text}: an ${kind === 'api' ? 'API' : 'enrollment'} token lives at most ${durationText(max)}`);
  return seconds;
}

const create: Command = {
  name: 'token create',
  summary: 'make a one-time token: --kind agent|storage (enrollment) or api',
  usage: '--kind agent|storage|api [--ttl DURATION] [--name NAME] [--json]',
  example: 'token create --kind api --name ci --ttl 30d',
  help: {
    ...JSON_HELP,
    kind: 'agent or storage (one enrollment) or api (required)',
    ttl: 'the lifetime: 30s, 15m, 6h, 90d or seconds (enrollment: default 1h, at most 30d; api: default 90d, at most 365d)',
    name: "an API token's name, shown by token list (default api)",
  },
  options: { kind: { type: 'string' }, ttl: { type: 'string' }, name: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const kind = oneOf(requireString(values, 'kind', 'token create'), KINDS, 'kind');
    const ttl = str(values, 'ttl');
    const name = str(values, 'name');
    if (name !== undefined && kind !== 'api') throw new CairnError('E_USAGE', 'token create: --name is for an api token only');
    const seconds = ttl === undefined ? undefined : ttlSeconds(ttl, kind === 'api' ? 'api' : 'enrollment');
    const body = { kind, ...(seconds === undefined ? {} : { ttlSeconds: seconds }), ...(name === undefined ? {} : { name }) };
    const { token } = await withClient((c) => c.post<{ token: string }>('/api/tokens', body));
    if (bool(values, 'json')) printJson({ token });
    else process.stdout.write(`${token}\n`);
    return 0;
  },
};

const list: Command = {
  name: 'token list',
  summary: 'live API tokens: yours, or everyone\'s for an admin (never the tokens themselves)',
  usage: '[--json]',
  example: 'token list',
  help: { ...JSON_HELP },
  options: { ...JSON_OPTION },
  async run({ values }) {
    const tokens = await withClient((c) => c.get<ApiTokenJson[]>('/api/tokens'));
    printList(tokens, bool(values, 'json'), (t) => ({ ID: t.id, NAME: t.name, USER: t.user, CREATED: t.createdAt, EXPIRES: t.expiresAt, 'LAST USED': t.lastUsed }));
    return 0;
  },
};

const revoke: Command = {
  name: 'token revoke',
  summary: 'revoke an API token by id (yours, or any for an admin): refused from the next request on',
  usage: 'ID',
  example: 'token revoke 3',
  help: {},
  options: {},
  positionals: [1, 1],
  async run({ positionals }) {
    const text = positionals[0]!;
    if (!/^[1-9]\d{0,14}$/.test(text)) throw new CairnError('E_USAGE', `token revoke: ID must be a token's id as token list shows it: ${text.slice(0, 40)}`);
    const id = Number(text);
    await withClient((c) => c.delete(`/api/tokens/${id}`));
    process.stdout.write(`revoked API token ${id}\n`);
    return 0;
  },
};

export const tokenCommands: Command[] = [create, list, revoke];

// `cairn token create`: a one-time enrollment token for an agent or a storage server (it carries
// the server CA's fingerprint, so the part authenticates the server too), or an API token.
import type { Command } from '../command.ts';
import { requireString } from '../command.ts';
import { printJson } from '../output.ts';
import { bool, JSON_HELP, JSON_OPTION, oneOf, str, wholeNumber, withClient } from './shared.ts';

const KINDS = ['agent', 'storage', 'api'] as const;

const create: Command = {
  name: 'token create',
  summary: 'make a one-time token: --kind agent|storage (enrollment) or api',
  usage: '--kind agent|storage|api [--ttl SECONDS] [--json]',
  example: 'token create --kind agent --ttl 600',
  help: {
    ...JSON_HELP,
    kind: 'agent or storage (one enrollment) or api (required)',
    ttl: "an enrollment token's lifetime in seconds (default 3600; an api token ignores it)",
  },
  options: { kind: { type: 'string' }, ttl: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const kind = oneOf(requireString(values, 'kind', 'token create'), KINDS, 'kind');
    const ttl = str(values, 'ttl');
    const body = ttl === undefined ? { kind } : { kind, ttlSeconds: wholeNumber(ttl, 'ttl', 1) };
    const { token } = await withClient((c) => c.post<{ token: string }>('/api/tokens', body));
    if (bool(values, 'json')) printJson({ token });
    else process.stdout.write(`${token}\n`);
    return 0;
  },
};

export const tokenCommands: Command[] = [create];

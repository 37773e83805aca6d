// `cairn token create`: a one-time enrollment token for an agent or a storage server (it carries
// the server CA's fingerprint, so the part authenticates the server too), or an API token.
import { CairnError } from '../../core/errors.ts';
import type { Command } from '../command.ts';
import { requireString } from '../command.ts';
import { durationSeconds } from '../../core/durations.ts';
import { printJson } from '../output.ts';
import { bool, JSON_HELP, JSON_OPTION, oneOf, str, wholeNumber, withClient } from './shared.ts';

const KINDS = ['agent', 'storage', 'api'] as const;

const create: Command = {
  name: 'token create',
  summary: 'make a one-time token: --kind agent|storage (enrollment) or api',
  usage: '--kind agent|storage|api [--ttl DURATION] [--json]',
  example: 'token create --kind agent --ttl 600',
  help: {
    ...JSON_HELP,
    kind: 'agent or storage (one enrollment) or api (required)',
    ttl: "an enrollment token's lifetime: 30s, 15m, 6h, 7d or seconds (default 1h, at most 30d; not for api tokens yet)",
  },
  options: { kind: { type: 'string' }, ttl: { type: 'string' }, ...JSON_OPTION },
  async run({ values }) {
    const kind = oneOf(requireString(values, 'kind', 'token create'), KINDS, 'kind');
    const ttl = str(values, 'ttl');
    // an API token's lifetime is not settable yet: refused rather than ignored
    if (ttl !== undefined && kind === 'api') throw new CairnError('E_USAGE', 'token create: --ttl for an api token is not supported yet');
    const seconds = ttl === undefined ? undefined : /^\d+$/.test(ttl) ? wholeNumber(ttl, 'ttl', 1) : durationSeconds(ttl);
    if (seconds === undefined && ttl !== undefined)
      throw new CairnError('E_USAGE', `--ttl must be a whole number of seconds or a duration (30s, 15m, 6h, 7d): ${ttl}`);
    if (seconds === 0) throw new CairnError('E_USAGE', '--ttl must be above zero');
    const body = seconds === undefined ? { kind } : { kind, ttlSeconds: seconds };
    const { token } = await withClient((c) => c.post<{ token: string }>('/api/tokens', body));
    if (bool(values, 'json')) printJson({ token });
    else process.stdout.write(`${token}\n`);
    return 0;
  },
};

export const tokenCommands: Command[] = [create];

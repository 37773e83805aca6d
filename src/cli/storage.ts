// `cairn storage …`: running a storage server. `storage start` prints the URL it bound as the
// first stdout line and the certificate fingerprint as the second (scripts and tests read them),
// then serves until SIGTERM/SIGINT, when it finishes in-flight requests and exits 0 (or until the
// backup server says an administrator removed it: exit 1).
// With `--server URL` (and `--token T --name NAME` the first time) it joins a backup server;
// without, and without a saved enrollment, it runs standalone for `cairn direct`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.ts';
import { startStorage } from '../storage/storage-daemon.ts';
import { type Command, requireString } from './command.ts';
import { METRICS_HELP, METRICS_OPTION, metricsLine, metricsListen } from './metrics-flag.ts';
import { serveUntilEnd } from './daemon-life.ts';

function optionalString(values: Record<string, unknown>, flag: string): string | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new CairnError('E_USAGE', `storage start: --${flag} needs a value`);
  return v;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.1.0';
  } catch {
    return '0.1.0';
  }
}

const start: Command = {
  name: 'storage start',
  summary: 'serve vaults from a data directory over HTTPS (joins a backup server with --server)',
  usage: '--data DIR [--listen HOST:PORT] [--server URL --token T --name NAME] [--advertise URL] [--append-only] [--backend s3://…] [--metrics-listen HOST:PORT]',
  example: 'storage start --data /srv/cairn/storage --listen 0.0.0.0:7351 --server https://backup.example:7350 --name nas',
  help: {
    data: 'the folder the vaults are kept in (required)',
    listen: 'the address to serve on (required at first start, then saved)',
    server: "the backup server's https URL to join (without it and unenrolled: standalone, for cairn direct)",
    token: 'the enrollment token from cairn token create --kind storage (first start; default $CAIRN_TOKEN)',
    name: "this storage server's name at the backup server (first start)",
    backend: 'another backend: not supported yet (only the local data folder)',
    advertise: 'the https URL parts reach this server at, when not the listen address',
    'append-only': 'delete only with the code this server writes to DATA/gc-confirm',
    ...METRICS_HELP,
  },
  options: {
    data: { type: 'string' },
    listen: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
    name: { type: 'string' },
    backend: { type: 'string' },
    advertise: { type: 'string' },
    'append-only': { type: 'boolean' },
    ...METRICS_OPTION,
  },
  async run({ values }) {
    const dataDir = requireString(values, 'data', 'storage start');
    const metrics = metricsListen(values, 'storage start');
    const backend = optionalString(values, 'backend');
    if (backend !== undefined)
      throw new CairnError('E_USAGE', `storage start: --backend ${backend}: not supported yet (only the local data folder)`);
    const server = optionalString(values, 'server');
    if (server !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(server);
      } catch {
        url = undefined;
      }
      if (url?.protocol !== 'https:') throw new CairnError('E_USAGE', `storage start: --server must be an https URL, got ${server}`);
    }
    // The environment's token only counts when joining a server: a standalone start ignores it.
    const token = optionalString(values, 'token') ?? (server !== undefined ? process.env.CAIRN_TOKEN || undefined : undefined);
    const running = await startStorage({
      dataDir,
      listen: optionalString(values, 'listen'),
      server,
      token,
      name: optionalString(values, 'name'),
      advertise: optionalString(values, 'advertise'),
      appendOnly: values['append-only'] === true,
      version: packageVersion(),
      metricsListen: metrics,
    });
    process.stderr.write(`cairn storage: serving ${running.dataDir} at ${running.url} (${running.mode === 'server' ? `server mode, as ${running.name}` : 'standalone'}${running.appendOnly ? ', append-only' : ''})\n`);
    const announce = `${running.url}\nfingerprint ${running.fingerprint}\n${metricsLine(running.metricsUrl)}`;
    return serveUntilEnd(running, 'cairn storage', (signal) => `${signal}, finishing in-flight requests`, announce);
  },
};

export const storageCommands: Command[] = [start];

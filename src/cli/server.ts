// `cairn server init|start`: making a backup server's data folder (CA, keys, catalog, first admin)
// and running the server. `server start` prints the URL it bound as its first stdout line, then
// serves until SIGTERM/SIGINT.
import { resolve } from 'node:path';
import { CairnError } from '../core/errors.ts';
import { initServer, startServer } from '../server/server-daemon.ts';
import { type Command, readStdinLine, requireString } from './command.ts';
import { printJson } from './output.ts';
import { METRICS_HELP, METRICS_OPTION, metricsLine, metricsListen } from './metrics-flag.ts';
import { wholeNumber } from './console/shared.ts';

const init: Command = {
  name: 'server init',
  summary: 'create a backup server: CA (DIR/ca.pem), catalog, first admin',
  usage: '--data DIR [--admin NAME] [--admin-password-stdin] [--json]',
  example: 'server init --data /srv/cairn/server --admin ann',
  help: {
    data: 'the folder to create the server in (required)',
    admin: "the first admin's user name (default admin)",
    'admin-password-stdin': "read the admin's password from stdin (else CAIRN_PASSWORD, else one is generated and shown once)",
    json: 'print one JSON document instead of text',
  },
  options: { data: { type: 'string' }, admin: { type: 'string' }, 'admin-password-stdin': { type: 'boolean' }, json: { type: 'boolean' } },
  async run({ values }) {
    const dataDir = requireString(values, 'data', 'server init');
    let password: string | undefined;
    if (values['admin-password-stdin']) password = await readStdinLine();
    else if (process.env.CAIRN_PASSWORD) password = process.env.CAIRN_PASSWORD;
    if (password !== undefined && password.length < 8) throw new CairnError('E_USAGE', 'server init: the admin password must have at least 8 characters');
    const admin = values.admin as string | undefined;
    if (admin !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/.test(admin)) throw new CairnError('E_USAGE', `server init: --admin: not a valid user name: ${admin}`);
    const r = await initServer({ dataDir, admin, adminPassword: password });
    if (values.json) {
      printJson({ ca: r.caPath, fingerprint: r.caFingerprint, admin: r.admin, ...(r.adminPassword ? { adminPassword: r.adminPassword } : {}) });
      return 0;
    }
    process.stdout.write(`fingerprint ${r.caFingerprint}\nca ${r.caPath}\nadmin ${r.admin}\n`);
    if (r.adminPassword) process.stdout.write(`admin password ${r.adminPassword}\n(shown once; also kept in ${r.passwordFile}, mode 0600)\n`);
    return 0;
  },
};

const start: Command = {
  name: 'server start',
  summary: 'run the backup server (REST API, control channel, scheduler)',
  usage: '--data DIR [--listen HOST:PORT] [--catalog postgres://…] [--advertise URL] [--max-runs N] [--max-runs-per-agent N] [--max-runs-per-storage N] [--web-cert FILE --web-key FILE] [--metrics-listen HOST:PORT]',
  example: 'server start --data /srv/cairn/server --listen 0.0.0.0:7350',
  help: {
    data: 'the folder made by server init (required)',
    listen: 'the address to serve on (required at first start, then saved)',
    catalog: 'another catalog: not supported yet (the catalog is DATA/catalog.db)',
    advertise: 'the https URL parts and consoles reach the server at, when not the listen address; saved (none forgets it)',
    'max-runs': 'runs at once in all (default 8, or the saved value)',
    'max-runs-per-agent': 'runs at once on one agent (default 1, or the saved value)',
    'max-runs-per-storage': 'runs at once on one storage server (default 4, or the saved value)',
    'web-cert': "the site's own certificate (PEM, leaf first) for the API and web console, with --web-key; parts keep the pinned CA; saved (none forgets both)",
    'web-key': "the site certificate's private key (PEM, not encrypted); saved",
    ...METRICS_HELP,
  },
  options: {
    data: { type: 'string' },
    listen: { type: 'string' },
    catalog: { type: 'string' },
    advertise: { type: 'string' },
    'max-runs': { type: 'string' },
    'max-runs-per-agent': { type: 'string' },
    'max-runs-per-storage': { type: 'string' },
    'web-cert': { type: 'string' },
    'web-key': { type: 'string' },
    ...METRICS_OPTION,
  },
  async run({ values }) {
    const dataDir = requireString(values, 'data', 'server start');
    const metrics = metricsListen(values, 'server start');
    // the catalog is DATA/catalog.db, made by `server init` with the first admin; another one is not supported yet
    if (values.catalog !== undefined)
      throw new CairnError('E_USAGE', `server start: --catalog ${String(values.catalog)}: not supported yet (the catalog is the embedded SQLite file DATA/catalog.db)`);
    const limit = (flag: string) => (values[flag] === undefined ? undefined : wholeNumber(String(values[flag]), flag, 1));
    const limits = { global: limit('max-runs'), perAgent: limit('max-runs-per-agent'), perStorage: limit('max-runs-per-storage') };
    const running = await startServer({
      dataDir,
      listen: values.listen as string | undefined,
      advertise: values.advertise as string | undefined,
      limits: Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)),
      metricsListen: metrics,
      web: webFlags(values),
    });
    await new Promise<void>((resolve) => {
      const onSignal = () => void running.stop().then(resolve);
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      // only now: a starter that signals as soon as it reads the first line finds the handlers in place
      process.stdout.write(`${running.url}\nfingerprint ${running.caFingerprint}\n${metricsLine(running.metricsUrl)}`);
    });
    return 0;
  },
};

/** --web-cert and --web-key: both or neither (`--web-cert none` alone forgets the saved pair); paths saved absolute. */
function webFlags(values: Record<string, unknown>): { cert: string; key: string } | 'none' | undefined {
  const cert = values['web-cert'] as string | undefined;
  const key = values['web-key'] as string | undefined;
  if (cert === 'none' && key === undefined) return 'none';
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined || cert === '' || key === '' || cert === 'none' || key === 'none')
    throw new CairnError('E_USAGE', 'server start: give --web-cert FILE and --web-key FILE together (or --web-cert none alone to stop using them)');
  return { cert: resolve(cert), key: resolve(key) };
}

export const serverCommands: Command[] = [init, start];

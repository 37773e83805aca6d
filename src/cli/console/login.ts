// `cairn login` / `cairn logout`: a console's session with the backup server. Login trusts the
// server through its CA, given as a file (--ca) or fetched and checked against a fingerprint
// (--fingerprint); with neither it refuses (exit 2), as SPEC.md says.
import { readFile } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../../core/errors.ts';
import { certificateFingerprint } from '../../core/tls.ts';
import { ApiClient, fetchServerCa, normalizeServerUrl } from '../api-client.ts';
import { type Command, readSecret, requireString } from '../command.ts';
import { removeLogin, saveLogin } from '../login-config.ts';
import { printJson } from '../output.ts';
import { bool, JSON_HELP, JSON_OPTION, str, withClient } from './shared.ts';

type LoginAnswer = { token: string; user: string; role: string; expiresAt: string };

async function caFromFile(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw fromSystemError(e, `--ca ${file}`);
  }
  try {
    certificateFingerprint(pem);
  } catch {
    throw new CairnError('E_USAGE', `--ca ${file} is not a PEM certificate`); // the check's own sentence names no file
  }
  return pem;
}

const login: Command = {
  name: 'login',
  summary: 'log in to a backup server (trusting it through --ca or --fingerprint)',
  usage: 'URL --user NAME [--password-stdin] (--ca FILE | --fingerprint HEX) [--json]',
  example: 'login https://backup.example:7350 --user ann --ca ca.pem --password-stdin',
  help: {
    ...JSON_HELP,
    user: 'the user name (required)',
    'password-stdin': 'read the password from stdin (else CAIRN_PASSWORD)',
    ca: "the server's CA certificate file (or --fingerprint)",
    fingerprint: 'the SHA-256 fingerprint (hex) of the CA the server sends (or --ca)',
  },
  options: {
    user: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    ca: { type: 'string' },
    fingerprint: { type: 'string' },
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const server = normalizeServerUrl(positionals[0]!);
    const user = requireString(values, 'user', 'login');
    const caFile = str(values, 'ca');
    const fingerprint = str(values, 'fingerprint');
    if (caFile === undefined && fingerprint === undefined)
      throw new CairnError('E_USAGE', 'login: give the server CA with --ca FILE or its fingerprint with --fingerprint HEX');
    if (caFile !== undefined && fingerprint !== undefined)
      throw new CairnError('E_USAGE', 'login: give --ca or --fingerprint, not both');
    const password = await readSecret(bool(values, 'password-stdin'), 'CAIRN_PASSWORD', 'password');
    const ca = caFile !== undefined ? await caFromFile(caFile) : await fetchServerCa(server, fingerprint!);
    const client = new ApiClient({ server, ca });
    let answer: LoginAnswer;
    try {
      answer = await client.post<LoginAnswer>('/api/login', { user, password });
    } finally {
      client.close();
    }
    if (typeof answer.token !== 'string' || answer.token === '')
      throw new CairnError('E_INTERNAL', `the backup server at ${server} answered the login without a token`);
    const name = typeof answer.user === 'string' && answer.user !== '' ? answer.user : user;
    await saveLogin({ server, ca, token: answer.token, user: name });
    if (bool(values, 'json')) printJson({ server, user: name, role: answer.role, expiresAt: answer.expiresAt });
    else process.stdout.write(`logged in to ${server} as ${name}\n`);
    return 0;
  },
};

const logout: Command = {
  name: 'logout',
  summary: 'end the session and forget the saved login',
  usage: '',
  example: 'logout',
  help: {},
  options: {},
  async run() {
    await withClient((client) => client.post('/api/logout'));
    await removeLogin();
    process.stdout.write('logged out\n');
    return 0;
  },
};

export const loginCommands: Command[] = [login, logout];

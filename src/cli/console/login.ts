// `cairn login` / `cairn logout`: a console's session with the backup server. Login trusts the
// server through its CA, given as a file (--ca) or fetched and checked against a fingerprint
// (--fingerprint); with neither it refuses (exit 2), as SPEC.md says. It saves either a session
// (--user and a password) or an API token (--api-token-stdin or CAIRN_API_TOKEN), the latter only
// once the server accepted it. Logout ends a session on the server; an API token is only forgotten
// here (`token revoke` revokes it).
import { readFile } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../../core/errors.ts';
import { certificateFingerprint } from '../../core/tls.ts';
import { API_TOKEN_PREFIX } from '../../protocol/api-token.ts';
import { ApiClient, fetchServerCa, normalizeServerUrl } from '../api-client.ts';
import { type Command, readSecret } from '../command.ts';
import { loadLogin, removeLogin, saveLogin } from '../login-config.ts';
import { printJson } from '../output.ts';
import { bool, JSON_HELP, JSON_OPTION, str, withClient } from './shared.ts';

type LoginAnswer = { token: string; user: string; role: string; expiresAt?: string };

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
  usage: 'URL (--user NAME [--password-stdin] | --api-token-stdin) (--ca FILE | --fingerprint HEX) [--json]',
  example: 'login https://backup.example:7350 --user ann --ca ca.pem --password-stdin',
  help: {
    ...JSON_HELP,
    user: 'the user name, for a password login (else an API token: --api-token-stdin or CAIRN_API_TOKEN)',
    'password-stdin': 'read the password from stdin (else CAIRN_PASSWORD)',
    'api-token-stdin': 'read an API token from stdin (else CAIRN_API_TOKEN) and save it once the server accepts it',
    ca: "the server's CA certificate file, or the CA of the site's own certificate (server start --web-cert) to reach it by host name (or --fingerprint)",
    fingerprint: 'the SHA-256 fingerprint (hex) of the CA the server sends (or --ca)',
  },
  options: {
    user: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    'api-token-stdin': { type: 'boolean' },
    ca: { type: 'string' },
    fingerprint: { type: 'string' },
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const server = normalizeServerUrl(positionals[0]!);
    const user = str(values, 'user');
    const tokenStdin = bool(values, 'api-token-stdin');
    const caFile = str(values, 'ca');
    const fingerprint = str(values, 'fingerprint');
    if (user !== undefined && tokenStdin) throw new CairnError('E_USAGE', 'login: give --user (a password login) or --api-token-stdin, not both');
    if (user === undefined && !tokenStdin && !process.env.CAIRN_API_TOKEN)
      throw new CairnError('E_USAGE', 'login: give --user NAME (a password login) or an API token with --api-token-stdin or CAIRN_API_TOKEN');
    if (user === undefined && bool(values, 'password-stdin')) throw new CairnError('E_USAGE', 'login: --password-stdin needs --user NAME');
    if (caFile === undefined && fingerprint === undefined)
      throw new CairnError('E_USAGE', 'login: give the server CA with --ca FILE or its fingerprint with --fingerprint HEX');
    if (caFile !== undefined && fingerprint !== undefined)
      throw new CairnError('E_USAGE', 'login: give --ca or --fingerprint, not both');
    const secret = user !== undefined ? await readSecret(bool(values, 'password-stdin'), 'CAIRN_PASSWORD', 'password') : await readSecret(tokenStdin, 'CAIRN_API_TOKEN', 'api-token');
    if (user === undefined && !secret.startsWith(API_TOKEN_PREFIX))
      throw new CairnError('E_USAGE', `login: an API token starts with ${API_TOKEN_PREFIX} (make one with cairn token create --kind api)`);
    const ca = caFile !== undefined ? await caFromFile(caFile) : await fetchServerCa(server, fingerprint!);
    const answer = user !== undefined ? await passwordLogin(server, ca, user, secret) : await tokenLogin(server, ca, secret);
    await saveLogin({ server, ca, token: answer.token, user: answer.user });
    if (bool(values, 'json')) printJson({ server, user: answer.user, role: answer.role, ...(answer.expiresAt ? { expiresAt: answer.expiresAt } : {}) });
    else process.stdout.write(`logged in to ${server} as ${answer.user}${user === undefined ? ' with an API token' : ''}\n`);
    return 0;
  },
};

async function passwordLogin(server: string, ca: string, user: string, password: string): Promise<LoginAnswer> {
  const client = new ApiClient({ server, ca });
  let answer: LoginAnswer;
  try {
    answer = await client.post<LoginAnswer>('/api/login', { user, password });
  } finally {
    client.close();
  }
  if (typeof answer.token !== 'string' || answer.token === '')
    throw new CairnError('E_INTERNAL', `the backup server at ${server} answered the login without a token`);
  return { ...answer, user: typeof answer.user === 'string' && answer.user !== '' ? answer.user : user };
}

/** Asks the server who the token stands for: a token it refuses (401) is not saved. */
async function tokenLogin(server: string, ca: string, token: string): Promise<LoginAnswer> {
  const client = new ApiClient({ server, ca, token });
  try {
    const me = await client.get<{ user: string; role: string; kind: string }>('/api/me');
    return { token, user: me.user, role: me.role };
  } finally {
    client.close();
  }
}

const logout: Command = {
  name: 'logout',
  summary: 'end the session (an API token is only forgotten here) and forget the saved login',
  usage: '',
  example: 'logout',
  help: {},
  options: {},
  async run() {
    const saved = await loadLogin();
    if (saved.token.startsWith(API_TOKEN_PREFIX)) {
      await removeLogin();
      process.stdout.write('forgot the API token here; it still works elsewhere until it expires (cairn token revoke ID revokes it)\n');
      return 0;
    }
    // a session the server no longer knows (expired, or its user removed) is over already: forget it
    const ended = await withClient((client) => client.post('/api/logout')).then(
      () => false,
      (e: unknown) => {
        if (e instanceof CairnError && e.code === 'E_UNAUTHORIZED') return true;
        throw e;
      },
    );
    await removeLogin();
    process.stdout.write(ended ? 'the session had ended already; logged out\n' : 'logged out\n');
    return 0;
  },
};

export const loginCommands: Command[] = [login, logout];

// The CLI's login: which backup server a console talks to, the CA it trusts, and its session
// token, kept in one JSON file readable by its owner only (docs/control-plane.md "CLI login").
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError, fromSystemError } from '../core/errors.ts';

export type LoginConfig = {
  /** e.g. https://127.0.0.1:8443 (no trailing slash) */
  server: string;
  /** the server CA's certificate (PEM): the only root trusted */
  ca: string;
  token: string;
  user: string;
};

/** $CAIRN_CONFIG, else $XDG_CONFIG_HOME/cairn/cli.json, else ~/.config/cairn/cli.json. */
export function loginConfigPath(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  if (env.CAIRN_CONFIG) return path.resolve(env.CAIRN_CONFIG);
  const base = env.XDG_CONFIG_HOME ? path.resolve(env.XDG_CONFIG_HOME) : path.join(home, '.config');
  return path.join(base, 'cairn', 'cli.json');
}

const NOT_LOGGED_IN = 'not logged in: run cairn login URL --user NAME --password-stdin (--ca FILE | --fingerprint HEX)';

function parseLoginConfig(text: string, file: string): LoginConfig {
  const invalid = () => new CairnError('E_USAGE', `${file} is not a Cairn login: run cairn login again`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalid(); // the parse error's detail adds nothing a person can act on
  }
  if (typeof v !== 'object' || v === null) throw invalid();
  const o = v as Record<string, unknown>;
  for (const k of ['server', 'ca', 'token', 'user'] as const) if (typeof o[k] !== 'string' || o[k] === '') throw invalid();
  return { server: o.server as string, ca: o.ca as string, token: o.token as string, user: o.user as string };
}

/** The saved login; E_USAGE (exit 2) telling how to log in when there is none. */
export async function loadLogin(file: string = loginConfigPath()): Promise<LoginConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CairnError('E_USAGE', NOT_LOGGED_IN);
    throw fromSystemError(e, `reading ${file}`);
  }
  return parseLoginConfig(text, file);
}

/** Saves the login atomically, mode 0600 (it holds a bearer token), in a 0700 folder if new. */
export async function saveLogin(config: LoginConfig, file: string = loginConfigPath()): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw fromSystemError(e, `creating ${path.dirname(file)}`);
  }
  const { server, ca, token, user } = config;
  await writeFileAtomic(file, `${JSON.stringify({ server, ca, token, user }, null, 2)}\n`, { mode: 0o600 });
}

/** Forgets the login (after a logout); no file is not an error. */
export async function removeLogin(file: string = loginConfigPath()): Promise<void> {
  try {
    await rm(file, { force: true });
  } catch (e) {
    throw fromSystemError(e, `removing ${file}`);
  }
}

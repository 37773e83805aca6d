// The CLI's login: which backup server a console talks to, the CA it trusts, and its session
// token, kept in one JSON file readable by its owner only (docs/control-plane.md "CLI login").
// The same file keeps the agent key fingerprints this console pinned, per server
// (`agentKeys: {SERVER: {AGENT: FINGERPRINT}}`, docs/control-plane.md "Vault keys"): they
// outlive a logout and a login to another server.
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
  if (o.server === undefined && o.token === undefined && o.agentKeys !== undefined) throw new CairnError('E_USAGE', NOT_LOGGED_IN); // logged out, pins kept
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
  const agentKeys = (await readPins(file)) ?? undefined;
  await writeFileAtomic(file, `${JSON.stringify({ server, ca, token, user, ...(agentKeys ? { agentKeys } : {}) }, null, 2)}\n`, { mode: 0o600 });
}

/** Forgets the login (after a logout); no file is not an error. Pinned agent keys stay. */
export async function removeLogin(file: string = loginConfigPath()): Promise<void> {
  const agentKeys = await readPins(file).catch(() => undefined);
  try {
    if (agentKeys) await writeFileAtomic(file, `${JSON.stringify({ agentKeys }, null, 2)}\n`, { mode: 0o600 });
    else await rm(file, { force: true });
  } catch (e) {
    throw fromSystemError(e, `removing ${file}`);
  }
}

// --- pinned agent key fingerprints ---

type Pins = Record<string, Record<string, string>>;

/** The pins in the file (a file without any, or no file: undefined). */
async function readPins(file: string): Promise<Pins | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(e, `reading ${file}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined; // not a login: nothing pinned in it (loadLogin says what is wrong)
  }
  const pins = (v as { agentKeys?: unknown } | null)?.agentKeys;
  if (typeof pins !== 'object' || pins === null || Array.isArray(pins)) return undefined;
  const out: Pins = {};
  for (const [server, agents] of Object.entries(pins)) {
    if (typeof agents !== 'object' || agents === null) continue;
    out[server] = {};
    for (const [agent, fpr] of Object.entries(agents as Record<string, unknown>)) if (typeof fpr === 'string') out[server][agent] = fpr;
  }
  return out;
}

/** The fingerprint this console pinned for `agent` of `server`, if any. */
export async function pinnedAgentKey(server: string, agent: string, file: string = loginConfigPath()): Promise<string | undefined> {
  return (await readPins(file))?.[server]?.[agent];
}

/** Pins (or re-pins) `agent`'s key fingerprint for `server`; the rest of the file is kept. Atomic, 0600. */
export async function pinAgentKey(server: string, agent: string, fingerprint: string, file: string = loginConfigPath()): Promise<void> {
  let o: Record<string, unknown> = {};
  try {
    o = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CairnError('E_USAGE', `${file} is not a Cairn login: run cairn login again`);
  }
  const pins = (await readPins(file)) ?? {};
  pins[server] = { ...pins[server], [agent]: fingerprint };
  await writeFileAtomic(file, `${JSON.stringify({ ...o, agentKeys: pins }, null, 2)}\n`, { mode: 0o600 });
}

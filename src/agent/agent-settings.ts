// An agent's data folder (docs/control-plane.md "Data folders"): `agent.json` {name, server,
// restoreRoots, nice?}, `tls/key.pem` (0600) + `tls/cert.pem` issued by the server's CA, `ca.pem`, and
// `agent-key.pem` (0600, the P-256 key vault keys are wrapped to). Every file is written
// atomically, agent.json last: a crash during enrollment leaves a folder that is not enrolled
// (start again with a new token), never half of one.
import path from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError } from '../core/errors.ts';
import { readIdentity, saveIdentity } from '../core/identity-files.ts';
import { checkPartName } from '../core/part-identity.ts';
import type { TlsIdentity } from '../core/tls.ts';
import { checkNice } from './priority.ts';

/** `nice`: the CPU priority every start applies (agent start --nice); absent: left as inherited. */
export type AgentSettings = { name: string; server: string; restoreRoots: string[]; nice?: number };
export type AgentSecrets = { identity: TlsIdentity; caPem: string; agentKeyPem: string };

const SETTINGS = 'agent.json';
/** key.pem + cert.pem, replaced as a pair (core/identity-files.ts) */
export const TLS_DIR = 'tls';
const FILES = { ca: 'ca.pem', agentKey: 'agent-key.pem' } as const;

function corrupt(dataDir: string, why: string): CairnError {
  return new CairnError('E_CORRUPT', `${path.join(dataDir, SETTINGS)}: ${why}`);
}

/** Checks a settings object as read from disk or built from flags. */
export function checkAgentSettings(v: unknown, fail: (why: string) => Error): AgentSettings {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('not an object');
  const o = v as Record<string, unknown>;
  let name: string;
  try {
    name = checkPartName(o.name);
  } catch (e) {
    throw fail(`name: ${(e as Error).message}`);
  }
  if (typeof o.server !== 'string' || !/^https:\/\//.test(o.server)) throw fail('server must be an https URL');
  const roots = o.restoreRoots ?? [];
  if (!Array.isArray(roots) || !roots.every((r) => typeof r === 'string' && path.isAbsolute(r)))
    throw fail('restoreRoots must be a list of absolute paths');
  const nice = o.nice === undefined ? undefined : checkNice(o.nice, fail);
  return { name, server: o.server, restoreRoots: roots as string[], ...(nice === undefined ? {} : { nice }) };
}

/** The saved settings, or undefined when this folder was never enrolled. */
export async function readAgentSettings(dataDir: string): Promise<AgentSettings | undefined> {
  const text = await readTextIfExists(path.join(dataDir, SETTINGS));
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt(dataDir, 'not JSON');
  }
  return checkAgentSettings(parsed, (why) => corrupt(dataDir, why));
}

/** The enrolled identity and keys; E_CORRUPT when agent.json exists but one of them is missing. */
export async function readAgentSecrets(dataDir: string): Promise<AgentSecrets> {
  const [identity, caPem, agentKeyPem] = await Promise.all([
    readIdentity(path.join(dataDir, TLS_DIR)),
    readTextIfExists(path.join(dataDir, FILES.ca)),
    readTextIfExists(path.join(dataDir, FILES.agentKey)),
  ]);
  if (identity === undefined || caPem === undefined || agentKeyPem === undefined)
    throw new CairnError('E_CORRUPT', `${dataDir}: enrolled (agent.json) but tls/, ca.pem or agent-key.pem is missing`);
  return { identity, caPem, agentKeyPem };
}

/** Writes what enrollment (or a re-enrollment) produced (secrets first, agent.json last). */
export async function writeEnrollment(dataDir: string, secrets: AgentSecrets, settings: AgentSettings): Promise<void> {
  await saveIdentity(path.join(dataDir, TLS_DIR), secrets.identity);
  await writeFileAtomic(path.join(dataDir, FILES.ca), secrets.caPem);
  await writeFileAtomic(path.join(dataDir, FILES.agentKey), secrets.agentKeyPem, { mode: 0o600 });
  await saveAgentSettings(dataDir, settings);
}

export async function saveAgentSettings(dataDir: string, settings: AgentSettings): Promise<void> {
  await writeFileAtomic(path.join(dataDir, SETTINGS), `${JSON.stringify(settings, null, 2)}\n`);
}

// A `user` for tests on a real cluster: added by the admin, logged in with its own CLI login file,
// and an agent it enrolled with its own token (so the agent, and the jobs on it, are its own).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, type Daemon, startDaemon } from './cluster.ts';
import type { Login } from './event-watcher.ts';

export type UserWithAgent = { env: { CAIRN_CONFIG: string }; login: Login; agent: Daemon };

/** Files (login, agent data) go under `root`; the agent runs with `agentEnv`. */
export async function userWithAgent(c: Cluster, root: string, name: string, agent: string, agentEnv: Record<string, string> = {}): Promise<UserWithAgent> {
  const password = `${name}-password-for-tests`;
  const add = await c.cli(['user', 'add', name, '--role', 'user', '--password-stdin'], `${password}\n`);
  assert.equal(add.code, 0, add.stderr);
  const env = { CAIRN_CONFIG: join(root, `${name}.json`) };
  const login = await c.cli(['login', c.url, '--user', name, '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${password}\n`, env);
  assert.equal(login.code, 0, login.stderr);
  const token = await c.cli(['token', 'create', '--kind', 'agent', '--json'], undefined, env);
  assert.equal(token.code, 0, token.stderr);
  const dataDir = join(root, `agent-${agent}`);
  const args = ['agent', 'start', '--data', dataDir, '--server', c.url, '--token', (JSON.parse(token.stdout) as { token: string }).token, '--name', agent];
  const daemon = await startDaemon(`agent ${agent}`, dataDir, args, agentEnv);
  await c.waitOnline('agent', agent);
  return { env, login: JSON.parse(readFileSync(env.CAIRN_CONFIG, 'utf8')) as Login, agent: daemon };
}

// What `cairn up` tells the person at the terminal to type. Its login goes to the CLI's usual
// file unless that holds a login to another server, which is left alone: then DATA/cli.json gets
// it, and `export CAIRN_CONFIG=…` is printed. Its suggestions name the CLI as it can be run from
// here: `cairn` when that is this installation on PATH, else the checkout's bin/cairn.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { type LoginConfig, loadLogin, loginConfigPath } from './login-config.ts';

const CHECKOUT_BIN = path.join(import.meta.dirname, '../../bin/cairn');

/** Where `cairn up` saves its login: the usual file, unless it logs in to another server (then `DATA/cli.json`). */
export async function upLoginFile(own: Pick<LoginConfig, 'server' | 'ca'>, dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ file: string; separate: boolean }> {
  const usual = loginConfigPath(env);
  if (!existsSync(usual)) return { file: usual, separate: false };
  const saved = await loadLogin(usual).catch(() => undefined); // unreadable: not ours to replace either
  if (saved?.server === own.server && saved.ca === own.ca) return { file: usual, separate: false };
  return { file: path.join(dataDir, 'cli.json'), separate: true };
}

/** The first directory on PATH holding an executable `name`, resolved through links. */
function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  return undefined;
}

/**
 * How to run this CLI from `cwd`: `cairn` when PATH finds this very one (an installed package,
 * or a linked checkout), else its bin/cairn, relative to `cwd` when below it.
 */
export function cliInvocation(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env, bin: string = CHECKOUT_BIN): string {
  if (onPath('cairn', env) === realpathSync(bin)) return 'cairn';
  const relative = path.relative(cwd, bin);
  return relative.startsWith('..') ? bin : relative.includes('/') ? relative : `./${relative}`;
}

// Which command the first words of a command line name, or which help they ask for. Command groups load on demand, so a
// command pays only for the modules it uses; the longest name wins ('storage start' before
// 'storage'), and words that name a group but no command of it resolve to the group.
import { CairnError } from '../core/errors.ts';
import type { Command } from './command.ts';
import { asksForHelp, groupHelpText, helpText, isHelpFlag, overviewText } from './help.ts';

export const GROUPS: Record<string, () => Promise<Command[]>> = {
  up: async () => [(await import('./up.ts')).upCommand],
  server: async () => [
    ...(await import('./server.ts')).serverCommands,
    ...(await import('./console/rebuild.ts')).rebuildCommands,
    (await import('./console/not-yet.ts')).serverBackupCommand,
  ],
  storage: async () => [...(await import('./storage.ts')).storageCommands, ...(await import('./console/parts.ts')).storageConsoleCommands],
  agent: async () => [...(await import('./agent.ts')).agentDaemonCommands, ...(await import('./console/parts.ts')).agentConsoleCommands],
  direct: async () => (await import('./direct.ts')).directCommands,
  login: async () => (await import('./console/login.ts')).loginCommands,
  logout: async () => (await import('./console/login.ts')).loginCommands,
  token: async () => (await import('./console/tokens.ts')).tokenCommands,
  vault: async () => (await import('./console/vaults.ts')).vaultCommands,
  job: async () => (await import('./console/jobs.ts')).jobCommands,
  run: async () => (await import('./console/runs.ts')).runCommands,
  snapshot: async () => (await import('./console/snapshots.ts')).snapshotCommands,
  restore: async () => (await import('./console/restore.ts')).restoreCommands,
  verify: async () => (await import('./console/verify.ts')).verifyCommands,
  user: async () => (await import('./console/users.ts')).userCommands,
  audit: async () => (await import('./console/audit.ts')).auditCommands,
  net: async () => (await import('./console/net.ts')).netCommands,
  forget: async () => (await import('./console/forget.ts')).forgetCommands,
  gc: async () => (await import('./console/gc.ts')).gcCommands,
  alert: async () => (await import('./console/alerts.ts')).alertCommands,
  copy: async () => [(await import('./console/not-yet.ts')).copyCommand],
  status: async () => (await import('./console/status.ts')).statusCommands,
};

/** Every command once, in the groups' order. */
export async function allCommands(): Promise<Command[]> {
  const all = (await Promise.all(Object.values(GROUPS).map((load) => load()))).flat();
  return [...new Map(all.map((c) => [c.name, c])).values()];
}

export type Found =
  | { kind: 'command'; command: Command; rest: string[] }
  | { kind: 'group'; group: string; commands: Command[]; rest: string[] };

/** The command (or, failing that, the group) the first words of `argv` name; undefined for neither. */
export async function findCommand(argv: string[]): Promise<Found | undefined> {
  const first = argv[0];
  if (first === undefined || !Object.hasOwn(GROUPS, first)) return undefined;
  const commands = await GROUPS[first]!();
  const command = commands
    .filter((c) => c.name.split(' ').every((w, i) => argv[i] === w))
    .sort((a, b) => b.name.length - a.name.length)[0];
  if (command) return { kind: 'command', command, rest: argv.slice(command.name.split(' ').length) };
  return { kind: 'group', group: first, commands: commands.filter((c) => c.name.startsWith(`${first} `)), rest: argv.slice(1) };
}

/** What a command line asks for: a text to print with an exit status (help), or a command to run. */
export type Plan = { print: string; status: number } | { command: Command; args: string[] };

/**
 * Decides what `argv` asks for without running anything: `--help`/`-h` after a command's words,
 * or `help WORDS…`, prints its help (exit 0); a group alone or with `--help` lists its commands
 * (exit 2 bare, 0 asked); no words list every command (exit 2, 0 with `--help` or `help`).
 */
export async function planCommandLine(argv: string[]): Promise<Plan> {
  if (argv.length === 0) return { print: overviewText(await allCommands()), status: 2 };
  if (isHelpFlag(argv[0]!) || (argv[0] === 'help' && argv.length === 1)) return { print: overviewText(await allCommands()), status: 0 };
  const asked = argv[0] === 'help';
  const words = asked ? argv.slice(1) : argv;
  const found = await findCommand(words);
  if (found?.kind === 'command') {
    if (asked || asksForHelp(found.rest)) return { print: helpText(found.command), status: 0 };
    return { command: found.command, args: found.rest };
  }
  if (found?.kind === 'group' && found.rest.every(isHelpFlag))
    return { print: groupHelpText(found.group, found.commands), status: asked || found.rest.length > 0 ? 0 : 2 };
  throw new CairnError('E_USAGE', `unknown command: ${words.slice(0, 2).join(' ')} (see cairn --help)`);
}

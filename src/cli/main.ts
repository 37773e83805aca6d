// The `cairn` CLI: finds the command named by the first words, parses its flags, runs it,
// and turns any failure into one line on stderr with exit status 1 (or 2 for bad usage).
import { CairnError, exitCodeOf } from '../core/errors.ts';
import { type Command, parseCommandArgs } from './command.ts';

// Command groups load on demand: a command pays only for the modules it uses.
const GROUPS: Record<string, () => Promise<Command[]>> = {
  up: async () => [(await import('./up.ts')).upCommand],
  server: async () => [...(await import('./server.ts')).serverCommands, ...(await import('./console/rebuild.ts')).rebuildCommands],
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
};

async function allCommands(): Promise<Command[]> {
  const all = (await Promise.all(Object.values(GROUPS).map((load) => load()))).flat();
  return [...new Map(all.map((c) => [c.name, c])).values()];
}

function usage(commands: Command[]): string {
  return ['usage: cairn <command> [flags]', '', ...commands.map((c) => `  cairn ${c.name.padEnd(22)} ${c.summary}`)].join(
    '\n',
  );
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(`${usage(await allCommands())}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  // longest match first: 'storage start' before 'storage'
  const load = Object.hasOwn(GROUPS, argv[0]!) ? GROUPS[argv[0]!] : undefined;
  const commands = load ? await load() : [];
  const cmd = commands
    .filter((c) => {
      const words = c.name.split(' ');
      return words.every((w, i) => argv[i] === w);
    })
    .sort((a, b) => b.name.length - a.name.length)[0];
  if (!cmd) throw new CairnError('E_USAGE', `unknown command: ${argv.slice(0, 2).join(' ')} (see cairn --help)`);
  const rest = argv.slice(cmd.name.split(' ').length);
  const args = parseCommandArgs(cmd, rest);
  return (await cmd.run(args)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const msg = e instanceof CairnError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`cairn: ${msg.split('\n')[0]}\n`);
    if (!(e instanceof CairnError) && process.env.CAIRN_DEBUG) process.stderr.write(`${String((e as Error)?.stack)}\n`);
    process.exitCode = exitCodeOf(e);
  },
);

// The `cairn` CLI: finds the command named by the first words, parses its flags, runs it,
// and turns any failure into one line on stderr with exit status 1 (or 2 for bad usage).
import { CairnError, exitCodeOf } from '../core/errors.ts';
import { type Command, parseCommandArgs } from './command.ts';

// Command groups load on demand: a command pays only for the modules it uses.
const GROUPS: Record<string, () => Promise<Command[]>> = {
  up: async () => [(await import('./up.ts')).upCommand],
  storage: async () => (await import('./storage.ts')).storageCommands,
  direct: async () => (await import('./direct.ts')).directCommands,
};

async function allCommands(): Promise<Command[]> {
  return (await Promise.all(Object.values(GROUPS).map((load) => load()))).flat();
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

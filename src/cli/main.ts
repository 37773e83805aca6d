// The `cairn` CLI: finds the command named by the first words (commands.ts), prints its help
// when asked (help.ts) or parses its flags and runs it, and turns any failure into one line on
// stderr with exit status 1 (or 2 for bad usage).
import { CairnError, exitCodeOf } from '../core/errors.ts';
import { parseCommandArgs } from './command.ts';
import { planCommandLine } from './commands.ts';

async function main(argv: string[]): Promise<number> {
  const plan = await planCommandLine(argv);
  if ('print' in plan) {
    process.stdout.write(plan.print);
    return plan.status;
  }
  const args = parseCommandArgs(plan.command, plan.args);
  return (await plan.command.run(args)) ?? 0;
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

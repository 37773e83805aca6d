// What `--help` prints, rendered from what each command declares (command.ts): the usage line,
// the summary, every flag with its description (defaults are said there), one example and the
// exit statuses. Also the list of all commands (`cairn --help`) and of one group's.
import type { Command } from './command.ts';

const EXIT_STATUS = 'exit status: 0 success, 1 the operation failed, 2 bad usage';

/** True for `--help` or `-h` before a `--` that ends the flags. */
export function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some(isHelpFlag);
}

export function isHelpFlag(arg: string): boolean {
  return arg === '--help' || arg === '-h';
}

/** `--flag VALUE` for a string, `--flag` for a boolean. */
function flagLabel(flag: string, option: Command['options'][string]): string {
  return option.type === 'string' ? `--${flag} VALUE` : `--${flag}`;
}

function aligned(rows: [string, string][], indent = '  '): string[] {
  const width = Math.min(Math.max(0, ...rows.map(([left]) => left.length)), 32);
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`.trimEnd());
}

/** The help of one command. */
export function helpText(cmd: Command): string {
  const flags: [string, string][] = Object.entries(cmd.options).map(([flag, option]) => {
    const text = cmd.help?.[flag] ?? '';
    return [flagLabel(flag, option), option.multiple ? `${text} (repeatable)`.trim() : text];
  });
  flags.push(['-h, --help', 'print this help']);
  const lines = [`usage: cairn ${cmd.name}${cmd.usage ? ` ${cmd.usage}` : ''}`, cmd.summary, '', 'flags:', ...aligned(flags), ''];
  if (cmd.example) lines.push(`example: cairn ${cmd.example}`);
  lines.push(EXIT_STATUS);
  return `${lines.join('\n')}\n`;
}

/** The commands of a group, each with its summary. */
export function groupHelpText(group: string, commands: Command[]): string {
  return [
    `usage: cairn ${group} COMMAND [flags]`,
    '',
    'commands:',
    ...aligned(commands.map((c) => [`cairn ${c.name}`, c.summary])),
    '',
    `cairn ${group} COMMAND --help (or cairn help ${group} COMMAND) explains one`,
    '',
  ].join('\n');
}

/** Every command, each with its summary. */
export function overviewText(commands: Command[]): string {
  return [
    'usage: cairn <command> [flags]',
    '',
    ...aligned(commands.map((c) => [`cairn ${c.name}`, c.summary])),
    '',
    'cairn COMMAND --help (or cairn help COMMAND) explains one',
    '',
  ].join('\n');
}

// Command plumbing shared by every command group: what a command declares (flags, and the
// usage, flag help and example `--help` renders), flag parsing with node:util parseArgs,
// usage errors (exit 2), and secrets read from stdin or the environment.
import { durationSeconds } from '../core/durations.ts';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CairnError } from '../core/errors.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export type Command = {
  /** e.g. 'storage start' */
  name: string;
  summary: string;
  options: Options;
  /** positional arguments allowed: [min, max] */
  positionals?: [number, number];
  /** the argument line after the name, e.g. `NAME --agent A [--path P …]` (help.ts renders it) */
  usage?: string;
  /** one example invocation, without the leading `cairn ` */
  example?: string;
  /** flag → one-line description, naming its default where there is one */
  help?: Record<string, string>;
  run: (args: { values: Record<string, unknown>; positionals: string[] }) => Promise<number | undefined>;
};

export function parseCommandArgs(cmd: Command, argv: string[]) {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: cmd.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CairnError('E_USAGE', `${cmd.name}: ${(e as Error).message.split('\n')[0]}`);
  }
  const [min, max] = cmd.positionals ?? [0, 0];
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    throw new CairnError('E_USAGE', `${cmd.name}: expected ${min === max ? min : `${min} to ${max}`} argument(s)`);
  }
  return { values: parsed.values as Record<string, unknown>, positionals: parsed.positionals };
}

export function requireString(values: Record<string, unknown>, flag: string, cmd: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v === '') throw new CairnError('E_USAGE', `${cmd}: --${flag} is required`);
  return v;
}

/** Parses a size such as 256K, 1M, 4MiB, 1048576. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new CairnError('E_USAGE', `--${flag}: not a size: ${text}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit;
}

/** Seconds from a duration: `30s`, `15m`, `6h`, `7d` (`0` alone is zero). */
export function parseDuration(text: string, flag: string): number {
  const seconds = durationSeconds(text);
  if (seconds === undefined) throw new CairnError('E_USAGE', `--${flag}: not a duration (30s, 15m, 6h, 7d): ${text}`);
  return seconds;
}

/** Reads all of stdin as text without the trailing newline. */
export async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A secret from `--X-stdin` or the named environment variable. */
export async function readSecret(fromStdin: boolean, envName: string, what: string): Promise<string> {
  if (fromStdin) return readStdinLine();
  const v = process.env[envName];
  if (v) return v;
  throw new CairnError('E_USAGE', `${what} is required: pass it on stdin with --${what}-stdin or set ${envName}`);
}

// What every console command group uses: typed reads of parsed flags, the usage checks the CLI
// makes before asking the server (absolute paths, counts), a client for the saved login that is
// closed after the command, and list/detail printing in text or --json.
import path from 'node:path';
import { CairnError } from '../../core/errors.ts';
import { shortSnapshotPrefix } from '../../protocol/snapshot-ref.ts';
import { ApiClient } from '../api-client.ts';
import { printJson, printTable } from '../output.ts';
import { printable } from '../progress.ts';
import type { Options } from '../command.ts';

export const JSON_OPTION: Options = { json: { type: 'boolean' } };
export const JSON_HELP = { json: 'print one JSON document instead of text' };

export function str(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(values: Record<string, unknown>, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

export function bool(values: Record<string, unknown>, name: string): boolean {
  return values[name] === true;
}

/** `p` when it is an absolute path (normalized); E_USAGE naming the flag otherwise. */
export function absolutePath(p: string, flag: string): string {
  if (!path.isAbsolute(p)) throw new CairnError('E_USAGE', `--${flag} must be an absolute path: ${p}`);
  return path.normalize(p).replace(/(.)\/$/, '$1');
}

/** A SNAPSHOT argument, hex lowercased; E_USAGE for a prefix under 8 hex digits (other text the server names as no snapshot). */
export function snapshotArg(text: string): string {
  const short = shortSnapshotPrefix(text);
  if (short !== undefined) throw new CairnError('E_USAGE', short);
  return /^[0-9a-f]+$/i.test(text) ? text.toLowerCase() : text;
}

/** A whole number ≥ min from a flag's text; E_USAGE otherwise. */
export function wholeNumber(text: string, flag: string, min = 0): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min)
    throw new CairnError('E_USAGE', `--${flag} must be a whole number${min > 0 ? ` of at least ${min}` : ''}: ${text}`);
  return Number(text);
}

/** `value` when it is one of `allowed`; E_USAGE listing them otherwise. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new CairnError('E_USAGE', `--${flag} must be one of ${allowed.join(', ')} (got ${value})`);
  return value as T;
}

/** Runs `work` with a client for the saved login, closing its connections afterwards. */
export async function withClient<T>(work: (client: ApiClient) => Promise<T>): Promise<T> {
  const client = await ApiClient.fromLogin();
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** A list: the API's objects unchanged with --json, else a table of the chosen columns. */
export function printList<T>(items: T[], json: boolean, row: (item: T) => Record<string, unknown>): void {
  if (json) printJson(items);
  else printTable(items.map((item) => cellsOf(row(item))));
}

/** Table cells: no control characters, lists joined, absent as '-'. */
function cellsOf(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = textOf(v);
  return out;
}

function textOf(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(textOf).join(',');
  if (typeof v === 'object') return printable(JSON.stringify(v));
  return printable(String(v));
}

/** One object: unchanged with --json, else `key: value` lines. */
export function printObject(obj: object, json: boolean): void {
  if (json) {
    printJson(obj);
    return;
  }
  const lines = Object.entries(obj).map(([k, v]) => `${k}: ${textOf(v)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** A sentence on stdout for people, or the given object with --json. */
export function printDone(json: boolean, obj: unknown, sentence: string): void {
  if (json) printJson(obj);
  else process.stdout.write(`${sentence}\n`);
}

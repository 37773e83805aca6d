// A vault on a test storage server used through `cairn direct`: its connection flags, and a
// first backup of a source tree into it.
import assert from 'node:assert/strict';
import type { CliResult } from './cli.ts';
import type { StorageProcess } from './storage-process.ts';

export function directConnection(server: StorageProcess, vault: string): string[] {
  return ['--storage', server.url, '--ca', server.caFile, '--access-key-file', server.accessKeyFile, '--vault', vault];
}

/** Inits the vault and backs `src` up into it; the snapshot id. */
export async function initAndBackup(cairn: (args: string[]) => Promise<CliResult>, connection: string[], src: string): Promise<string> {
  const init = await cairn(['direct', 'init', ...connection]);
  assert.equal(init.code, 0, init.stderr);
  const backup = await cairn(['direct', 'backup', ...connection, '--json', src]);
  assert.equal(backup.code, 0, backup.stderr);
  return JSON.parse(backup.stdout).snapshot as string;
}

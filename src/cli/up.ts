// `cairn up`: everything on this machine with embedded defaults. Until the backup server
// exists this brings up the storage server on loopback and prints how to back up to it with
// `cairn direct`; it carries on from the same data folder when run again.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Command } from './command.ts';

const MAIN = path.join(import.meta.dirname, 'main.ts');

export const upCommand: Command = {
  name: 'up',
  summary: 'run Cairn on this machine with embedded defaults',
  options: { data: { type: 'string' }, listen: { type: 'string' } },
  async run({ values }) {
    const data = path.resolve((values.data as string | undefined) ?? path.join(os.homedir(), '.local/share/cairn'));
    const storageDir = path.join(data, 'storage');
    const args = [MAIN, 'storage', 'start', '--data', storageDir, '--listen', (values.listen as string | undefined) ?? '127.0.0.1:0'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout! });
    let url = '';
    lines.on('line', (line) => {
      process.stdout.write(`${line}\n`);
      if (url === '') url = line.trim(); // the daemon's first line is its address
      if (!line.startsWith('fingerprint ')) return; // the second: hints follow the daemon's own lines
      const bin = path.relative(process.cwd(), path.join(import.meta.dirname, '../../bin/cairn')) || 'bin/cairn';
      process.stdout.write(
        [
          '',
          `storage server ready at ${url} (data in ${storageDir})`,
          'try it:',
          `  export CAIRN_PASSPHRASE='choose a long passphrase'`,
          `  S="--storage ${url} --ca ${storageDir}/tls/cert.pem --access-key-file ${storageDir}/access-key --vault default"`,
          `  ${bin} direct init $S            # once`,
          `  ${bin} direct backup $S ~/some/dir`,
          `  ${bin} direct snapshots $S`,
          `  ${bin} direct restore $S SNAPSHOT --to /tmp/restore`,
          '',
        ].join('\n'),
      );
    });
    const stop = () => child.kill('SIGTERM');
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
  },
};

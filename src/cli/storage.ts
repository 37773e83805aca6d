// `cairn storage …`: running a storage server. `storage start` prints the URL it bound as the
// first stdout line and the certificate fingerprint as the second (scripts and tests read them),
// then serves until SIGTERM/SIGINT, when it finishes in-flight requests and exits 0.
import { startStorage } from '../storage/storage-daemon.ts';
import { type Command, requireString } from './command.ts';

const start: Command = {
  name: 'storage start',
  summary: 'serve vaults from a data directory over HTTPS (standalone mode)',
  options: {
    data: { type: 'string' },
    listen: { type: 'string' },
  },
  async run({ values }) {
    const dataDir = requireString(values, 'data', 'storage start');
    const listen = typeof values.listen === 'string' ? values.listen : undefined;
    const running = await startStorage({ dataDir, listen });
    process.stdout.write(`${running.url}\nfingerprint ${running.fingerprint}\n`);
    process.stderr.write(`cairn storage: serving ${running.dataDir} at ${running.url} (standalone)\n`);
    await new Promise<void>((resolve) => {
      const onSignal = (signal: string) => {
        process.stderr.write(`cairn storage: ${signal}, finishing in-flight requests\n`);
        void running.stop().then(resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
    });
    return 0;
  },
};

export const storageCommands: Command[] = [start];

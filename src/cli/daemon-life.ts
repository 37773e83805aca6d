// How a part's daemon command ends: on SIGTERM/SIGINT it stops cleanly (exit 0); when the backup
// server says an administrator removed the part it stops too, saying so in one line (exit 1),
// instead of redialling a server that will refuse it forever.
type Part = { removed: Promise<string>; stop: () => Promise<void> };

/**
 * Prints `announce` on stdout (the daemon's first lines, which starters wait for), then serves
 * until a signal or a removal; `said(signal)` is the line printed for a signal. `tag`: e.g. `cairn agent`.
 */
export async function serveUntilEnd(part: Part, tag: string, said: (signal: string) => string, announce: string): Promise<number> {
  const end = await new Promise<{ signal: string } | { removed: string }>((resolve) => {
    process.once('SIGTERM', () => resolve({ signal: 'SIGTERM' }));
    process.once('SIGINT', () => resolve({ signal: 'SIGINT' }));
    // only now: a starter that signals as soon as it reads the first line finds the handlers in place
    process.stdout.write(announce);
    void part.removed.then((detail) => resolve({ removed: detail }));
  });
  process.stderr.write(`${tag}: ${'signal' in end ? said(end.signal) : `${end.removed}; stopping`}\n`);
  await part.stop();
  return 'signal' in end ? 0 : 1;
}

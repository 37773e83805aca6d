// Starts a real storage server (`bin/cairn storage start`) as a child process for integration
// tests and benchmarks, and tells the caller where it listens and which files pin and unlock it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The CLI under test: the checkout's bin/cairn unless CAIRN_BIN names another. */
export const CAIRN_BIN = process.env.CAIRN_BIN ?? resolve(import.meta.dirname, '../../bin/cairn');

export type StorageProcess = {
  /** e.g. https://127.0.0.1:41234 (first stdout line of the server) */
  url: string;
  /** hex SHA-256 of the server certificate's DER (second stdout line) */
  fingerprint: string;
  /** the server's self-signed certificate: trust it as the CA */
  caFile: string;
  /** the standalone bearer key (hex, one line) */
  accessKeyFile: string;
  dataDir: string;
  process: ChildProcess;
  /** everything the server wrote to stderr so far (for assertion messages) */
  stderr: () => string;
  /** SIGTERM, then waits for exit; resolves with the exit code (null when killed by a signal). */
  stop: () => Promise<number | null>;
};

export type StartStorageOptions = {
  /** reuse a data directory (a restart); a fresh temp dir otherwise */
  dataDir?: string;
  /** default 127.0.0.1:0 (any free port); null omits --listen (a restart reusing storage.json) */
  listen?: string | null;
  /** how long to wait for the URL line, default 30 s */
  timeoutMs?: number;
  /** extra environment for the process (test knobs) */
  env?: Record<string, string>;
};

// Temp data dirs made here live until the test process exits (a restart test reuses one).
const tempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export async function startStorage(options: StartStorageOptions = {}): Promise<StorageProcess> {
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    dataDir = mkdtempSync(join(tmpdir(), 'cairn-storage-'));
    tempDirs.push(dataDir);
  }
  const args = ['storage', 'start', '--data', dataDir];
  if (options.listen !== null) args.push('--listen', options.listen ?? '127.0.0.1:0');
  const child = spawn(CAIRN_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const lines = createInterface({ input: child.stdout });
  const firstTwo: string[] = [];
  const ready = new Promise<void>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`storage server did not print its URL in time; stderr: ${stderr}`)),
      options.timeoutMs ?? 30_000,
    );
    lines.on('line', (line) => {
      if (firstTwo.length < 2) firstTwo.push(line);
      if (firstTwo.length === 2) {
        clearTimeout(timer);
        res();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`storage server exited with ${code} before it was ready; stderr: ${stderr.trim()}`));
    });
  });
  try {
    await ready;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const [url, fpLine] = firstTwo as [string, string];
  if (!/^https:\/\/[^/]+$/.test(url)) throw new Error(`unexpected first line from storage server: ${url}`);
  const fingerprint = fpLine.replace(/^fingerprint /, '');

  return {
    url,
    fingerprint,
    caFile: join(dataDir, 'tls', 'cert.pem'),
    accessKeyFile: join(dataDir, 'access-key'),
    dataDir,
    process: child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

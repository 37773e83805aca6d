// Runs bin/cairn as a real process and collects its exit status and output.
import { execFile } from 'node:child_process';
import { CAIRN_BIN } from './storage-process.ts';

export type CliResult = { code: number; stdout: string; stderr: string };

/** `onStdout`: each piece of its output as it comes (a test that acts on what a long command printed so far). */
export function runCairn(args: string[], env: Record<string, string> = {}, stdin?: string, onStdout?: (text: string) => void): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      CAIRN_BIN,
      args,
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
    if (onStdout) child.stdout!.on('data', (chunk: Buffer | string) => onStdout(String(chunk)));
  });
}

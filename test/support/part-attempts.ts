// What a part that should be refused tries, for enrollment bad-input tests: `cairn agent|storage
// start` run until it exits (or until it says it started, which is then the failure, and it is
// stopped), a raw POST /api/enroll with a fresh key's CSR, and a WebSocket dial of the control
// channel with a chosen client certificate, answering the HTTP status of the refusal.
import { spawn } from 'node:child_process';
import type { ConnectionOptions } from 'node:tls';
import { generateAgentKeyPair } from '../../src/core/agent-keys.ts';
import { createPartRequest } from '../../src/core/ca.ts';
import type { PartIdentity } from '../../src/core/part-identity.ts';
import WebSocket from 'ws';
import type { RawAnswer, RawApi } from './raw-api.ts';
import { CAIRN_BIN } from './storage-process.ts';

export type StartAttempt = { code: number | null; started: boolean; stdout: string; stderr: string };

/** Runs `bin/cairn ARGS` until it exits; a daemon that prints its first line (it started) is stopped. */
export function attemptStart(args: string[]): Promise<StartAttempt> {
  const child = spawn(CAIRN_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAIRN_TOKEN: '' } });
  let stdout = '';
  let stderr = '';
  let started = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (!started && stdout.includes('\n')) {
      started = true;
      child.kill('SIGTERM');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, started, stdout, stderr })));
}

/** POST /api/enroll as a part named `part` would send it, with a fresh key's CSR. */
export async function enrollRaw(api: RawApi, token: string, part: PartIdentity): Promise<RawAnswer> {
  const { csrPem } = await createPartRequest(part);
  const body: Record<string, unknown> = { token, name: part.name, csr: csrPem, version: 'test' };
  if (part.kind === 'agent') body.publicKey = generateAgentKeyPair().publicKeyPem;
  return api.call('/api/enroll', { body, token: null });
}

/**
 * Dials wss://SERVER/api/control with `identity` as the client certificate (none when undefined):
 * the HTTP status the upgrade was refused with, or 101 when it was accepted (then closed at once).
 */
export function dialControl(server: string, caPem: string, identity?: { keyPem: string; certPem: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    // node:tls options (ws passes them on; its own typing of checkServerIdentity differs)
    const tls: ConnectionOptions = { ca: caPem, checkServerIdentity: () => undefined, ...(identity ? { key: identity.keyPem, cert: identity.certPem } : {}) };
    const ws = new WebSocket(`${server.replace(/^https:/, 'wss:')}/api/control`, tls as WebSocket.ClientOptions);
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('error', (e) => reject(e)); // after an answer, a late error changes nothing
  });
}

// Open event streams for tests that check when the server ends them (a removed user, a revoked
// token, a changed role): a raw GET /api/events, and waiting for its end within a time.
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { RawApi } from './raw-api.ts';

/** An open GET /api/events stream; `ended` settles when the server ends it. */
export function openStream(api: RawApi, token: string): Promise<{ ended: Promise<void>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL('/api/events', api.server),
      { headers: { authorization: `Bearer ${token}` }, ca: api.ca, checkServerIdentity: () => undefined, agent: false },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) return reject(new Error(`events: HTTP ${res.statusCode}`));
        const ended = new Promise<void>((done) => {
          res.once('end', done);
          res.once('close', done);
        });
        res.once('data', () => resolve({ ended, close: () => req.destroy() }));
        res.resume();
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a stream is still open 300 ms on. */
export async function stillOpen(ended: Promise<void>): Promise<boolean> {
  return Promise.race([ended.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 300))]);
}

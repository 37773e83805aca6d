// A storage server's error answers: a full disk reached through SQLite (any index write, not only
// a pack's) is "no space left on device", not an internal error.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { sendError } from './http-io.ts';

function answer(e: unknown): { status: number; body: { error: { code: string; message: string } } } {
  let status = 0;
  let text = '';
  const res = {
    headersSent: false,
    setHeader: () => undefined,
    writeHead: (s: number) => {
      status = s;
      return res;
    },
    end: (b?: string | Buffer) => {
      text = String(b ?? '');
    },
  } as unknown as ServerResponse;
  sendError({ complete: true, headers: {}, method: 'POST', url: '/x' } as unknown as IncomingMessage, res, e);
  return { status, body: JSON.parse(text) };
}

test('SQLite "database or disk is full" answers E_NO_SPACE, another SQLite error stays internal', () => {
  const full = Object.assign(new Error('database or disk is full'), { errcode: 13 });
  const a = answer(full);
  assert.equal(a.body.error.code, 'E_NO_SPACE');
  assert.match(a.body.error.message, /no space left on device/);
  const other = Object.assign(new Error('database is locked'), { errcode: 5 });
  assert.equal(answer(other).body.error.code, 'E_INTERNAL');
});

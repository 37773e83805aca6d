// A storage server told to stop while a client sits silent in its TLS handshake: the drain's
// deadline ends that connection too (Node's closeAllConnections does not know it), so the stop
// takes the drain, not TLS's 120 s handshake timeout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startStorage } from './support/storage-process.ts';

test('a stop cuts a connection silent in its TLS handshake at the drain deadline', async () => {
  const storage = await startStorage({ env: { CAIRN_TEST: '1', CAIRN_TEST_STORAGE_DRAIN_MS: '300' } });
  const { hostname, port } = new URL(storage.url);
  const raw = connect(Number(port), hostname); // no ClientHello will follow
  raw.on('error', () => undefined); // a reset is as good an end as a close
  const ended = new Promise((resolve) => raw.once('close', resolve));
  await once(raw, 'connect');
  await sleep(300); // taken by the server's event loop, not only queued in the kernel
  const outcome = await Promise.race([storage.stop(), sleep(20_000, undefined, { ref: false }).then(() => 'still stopping after 20 s' as const)]);
  if (outcome === 'still stopping after 20 s') storage.process.kill('SIGKILL');
  assert.equal(outcome, 0, storage.stderr());
  await ended;
  assert.doesNotMatch(storage.stderr(), /^\s+at /m, 'no stack trace in the log');
});

// A stop ends a connection in its TLS handshake, where Node's closeAllConnections does not reach,
// so server.close() is not left waiting on a client that finishes it later.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { generateSelfSignedIdentity } from './certificates.ts';
import { trackOpenSockets } from './open-sockets.ts';

async function listening(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** Resolves true once the server has closed, false if it is still waiting after `ms`. */
async function closesWithin(server: Server, ms: number): Promise<boolean> {
  const closed = new Promise<boolean>((r) => server.close(() => r(true)));
  server.closeAllConnections();
  return Promise.race([closed, sleep(ms).then(() => false)]);
}

test('a stop ends a connection still in its TLS handshake, which closeAllConnections leaves open', async () => {
  const id = await generateSelfSignedIdentity('cairn-server:sockets');
  for (const tracked of [false, true]) {
    const server = createServer({ key: id.keyPem, cert: id.certPem }, (_req, res) => res.end('ok'));
    const sockets = tracked ? trackOpenSockets(server) : undefined;
    const port = await listening(server);
    const accepted = once(server, 'connection');
    const raw: Socket = connect(port, '127.0.0.1'); // accepted, no ClientHello yet
    raw.on('error', () => undefined); // a reset is as good an end as a close
    const ended = new Promise((resolve) => raw.once('close', resolve));
    await accepted;
    sockets?.destroyAll();
    assert.equal(await closesWithin(server, 2000), tracked, tracked ? 'closed once every socket was ended' : 'Node alone waits for the handshake');
    if (tracked) await ended;
    raw.destroy();
    server.close();
  }
});

// The part's end of the control channel against a bare WebSocket peer that plays the server's
// side of the protocol frame by frame (the real hub is exercised in server/control-hub.test.ts):
// refusals, silence, the wrong server, a link lost in mid-call. Real TLS on 127.0.0.1.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { createCertificateAuthority, createPartRequest, issuePartCertificate, type CertificateAuthority } from '../core/ca.ts';
import { isCairnError } from '../core/errors.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import { mutualServerTlsOptions, type TlsIdentity } from '../core/tls.ts';
import { ControlClient } from './control-client.ts';
import { parseFrame } from './control.ts';

const AGENT: PartIdentity = { kind: 'agent', name: 'a1' };

async function issue(ca: CertificateAuthority, part: PartIdentity, hosts?: string[]): Promise<TlsIdentity> {
  const req = await createPartRequest(part);
  return { keyPem: req.keyPem, certPem: await issuePartCertificate(ca, req.csrPem, { ...part, hosts }) };
}

/** An https server whose upgrades on any path go to `onUpgrade`; each upgrade request is also an 'upgrade' event. */
async function peerServer(
  identity: TlsIdentity,
  ca: CertificateAuthority,
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer, wss: WebSocketServer) => void,
): Promise<{ server: Server; url: string; upgrades: EventEmitter; stop: () => Promise<void> }> {
  const server = createServer(mutualServerTlsOptions(identity, ca.certPem));
  const wss = new WebSocketServer({ noServer: true });
  const upgrades = new EventEmitter();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.emit('upgrade', req);
    onUpgrade(req, socket, head, wss);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const stop = async () => {
    for (const ws of wss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, upgrades, stop };
}

function accept(onSocket: (ws: WebSocket) => void) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer, wss: WebSocketServer) =>
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws));
}

/** Answers hello with welcome, as the hub does. */
function welcoming(then: (ws: WebSocket) => void = () => {}) {
  return accept((ws) =>
    ws.once('message', (data) => {
      assert.equal(parseFrame(data.toString()).t, 'hello');
      ws.send(JSON.stringify({ t: 'welcome', name: 'a1' }));
      then(ws);
    }),
  );
}

describe('control client', () => {
  let ca: CertificateAuthority;
  let serverId: TlsIdentity;
  let agentId: TlsIdentity;

  before(async () => {
    ca = await createCertificateAuthority('Test CA');
    serverId = await issue(ca, { kind: 'server', name: 'server' }, ['127.0.0.1']);
    agentId = await issue(ca, AGENT);
  });

  function client(server: string, extra: { heartbeatMs?: number; hello?: () => { version: string; address: string; runs?: number[] } } = {}) {
    const states = new EventEmitter();
    const lines: string[] = [];
    const c = new ControlClient({
      server,
      caPem: ca.certPem,
      identity: agentId,
      self: AGENT,
      hello: () => ({ version: '1.0.0', address: 'host-a' }),
      handlers: {},
      onState: (state, detail) => void states.emit(state, detail),
      log: (line) => lines.push(line),
      backoffMs: { min: 10, max: 50 },
      ...extra,
    });
    return { c, states, lines };
  }

  it('reports a refused certificate, logs it, and keeps asking', async () => {
    const peer = await peerServer(serverId, ca, (_req, socket) => {
      socket.write('HTTP/1.1 403 Forbidden\r\n\r\n');
      socket.destroy();
    });
    const { c, states, lines } = client(peer.url);
    try {
      let attempts = 0;
      const secondAttempt = new Promise<void>((resolve) => peer.upgrades.on('upgrade', () => ++attempts === 2 && resolve()));
      const offline = once(states, 'offline');
      c.start();
      const [detail] = await offline;
      assert.match(detail, /refused this part's certificate \(HTTP 403\)/);
      assert.ok(lines.some((line) => line.includes('HTTP 403')), lines.join('\n'));
      await secondAttempt;
      assert.equal(c.connected, false);
    } finally {
      await c.close();
      await peer.stop();
    }
  });

  it('refuses a server whose certificate names another part', async () => {
    const impostor = await issue(ca, { kind: 'storage', name: 'server' }, ['127.0.0.1']);
    const peer = await peerServer(impostor, ca, welcoming());
    const { c, states } = client(peer.url);
    let upgrades = 0;
    peer.upgrades.on('upgrade', () => upgrades++);
    try {
      const offline = once(states, 'offline');
      c.start();
      const [detail] = await offline;
      assert.match(detail, /names cairn-storage:server, expected cairn-server:server/);
      assert.equal(upgrades, 0); // refused in the handshake: no request was sent
    } finally {
      await c.close();
      await peer.stop();
    }
  });

  it('gives a silent link up and redials', async () => {
    let connections = 0;
    const peer = await peerServer(serverId, ca, welcoming(() => connections++)); // welcomes, never pings
    const { c, states } = client(peer.url, { heartbeatMs: 20 });
    try {
      const online = once(states, 'online');
      const offline = once(states, 'offline');
      c.start();
      await online;
      const [detail] = await offline;
      assert.equal(detail, 'no heartbeat from the server for 60 ms');
      await once(states, 'online');
      assert.ok(connections >= 2);
    } finally {
      await c.close();
      await peer.stop();
    }
  });

  it('fails a call before welcome, and one whose link drops before the reply', async () => {
    const peer = await peerServer(
      serverId,
      ca,
      welcoming((ws) =>
        ws.on('message', (data) => {
          if (parseFrame(data.toString()).t === 'call') ws.terminate(); // the server dies in mid-call
        }),
      ),
    );
    const { c, states } = client(peer.url);
    try {
      await assert.rejects(c.call('renewGrant', { run: 1 }), (e) => isCairnError(e, 'E_UNAVAILABLE') && /not connected/.test(e.message));
      const online = once(states, 'online');
      c.start();
      await online;
      await assert.rejects(c.call('renewGrant', { run: 1 }), (e) => isCairnError(e, 'E_UNAVAILABLE') && /dropped/.test(e.message));
    } finally {
      await c.close();
      await peer.stop();
    }
  });

  it('says hello with its runs, and sends a call made when it comes online right after the welcome', async () => {
    const frames: string[] = [];
    const peer = await peerServer(
      serverId,
      ca,
      accept((ws) =>
        ws.on('message', (data) => {
          const frame = parseFrame(data.toString());
          frames.push(frame.t === 'call' ? `call ${frame.method}` : JSON.stringify(frame));
          if (frame.t === 'hello') ws.send(JSON.stringify({ t: 'welcome', name: 'a1' }));
          if (frame.t === 'call') ws.send(JSON.stringify({ t: 'reply', id: frame.id, result: {} }));
        }),
      ),
    );
    const { c, states } = client(peer.url, { hello: () => ({ version: '1.0.0', address: 'host-a', runs: [7, 9] }) });
    try {
      assert.equal(await c.waitConnected(5, AbortSignal.timeout(1000)), false, 'not started: times out');
      const answered = new Promise((resolve, reject) => states.once('online', () => c.call('runEnded', { run: 7 }).then(resolve, reject)));
      const waiting = c.waitConnected(5000);
      c.start();
      assert.deepEqual(await answered, {});
      assert.equal(await waiting, true);
      assert.equal(await c.waitConnected(0), true, 'connected: at once');
      assert.deepEqual(frames, [JSON.stringify({ t: 'hello', version: '1.0.0', address: 'host-a', runs: [7, 9] }), 'call runEnded']);
    } finally {
      await c.close();
      await peer.stop();
    }
    assert.equal(await c.waitConnected(1000), false, 'closed: false at once');
    const canceled = new AbortController();
    canceled.abort(new Error('canceled'));
    await assert.rejects(client(peer.url).c.waitConnected(1000, canceled.signal), /canceled/);
  });

  it('closes with 1008 when the server sends a malformed frame', async () => {
    const closed = new EventEmitter();
    const peer = await peerServer(
      serverId,
      ca,
      welcoming((ws) => {
        ws.on('close', (code) => closed.emit('close', code));
        ws.send('{"t":"reply","id":"one"}');
      }),
    );
    const { c } = client(peer.url);
    try {
      const code = once(closed, 'close');
      c.start();
      assert.deepEqual(await code, [1008]);
    } finally {
      await c.close();
      await peer.stop();
    }
  });
});

// The control channel end to end: a real https server with mutual TLS and a ControlHub, real
// ControlClients with certificates from a real CA, all on 127.0.0.1.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createCertificateAuthority, createPartRequest, issuePartCertificate, type CertificateAuthority } from '../core/ca.ts';
import { CairnError, isCairnError } from '../core/errors.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import { certificateFingerprint, mutualServerTlsOptions, partTlsOptions, type TlsIdentity } from '../core/tls.ts';
import { ControlClient, type ControlClientOptions } from '../protocol/control-client.ts';
import type { EventFrame } from '../protocol/control.ts';
import { ControlHub, type HubHooks, type PartRef } from './control-hub.ts';

/** a short ping period for the heartbeat test only: elsewhere a loaded machine could miss pings and make a test redial */
const FAST_HEARTBEAT_MS = 40;
const SERVER: PartIdentity = { kind: 'server', name: 'server' };

async function issue(ca: CertificateAuthority, part: PartIdentity, hosts?: string[]): Promise<TlsIdentity> {
  const req = await createPartRequest(part);
  return { keyPem: req.keyPem, certPem: await issuePartCertificate(ca, req.csrPem, { ...part, hosts }) };
}

/** Every hook call becomes an event of the same name, so tests wait for what happened instead of for time. */
class HookRecorder extends EventEmitter {
  admitted: { part: PartRef; fingerprint: string }[] = [];
  admit: boolean | 'removed' = true;
  hooks(): HubHooks {
    return {
      admit: async (part, fingerprint) => {
        this.admitted.push({ part, fingerprint });
        return this.admit;
      },
      online: (part, hello) => void this.emit('online', part, hello),
      offline: (part, reason) => void this.emit('offline', part, reason),
      heartbeat: (part, rtt) => void this.emit('heartbeat', part, rtt),
      event: (part: PartRef, frame: EventFrame) => void this.emit('event', part, frame),
      handlers: {
        renewGrant: async (part, params) => ({ grant: `grant for ${part.name} run ${(params as { run: number }).run}` }),
        snapshotCreated: async () => {
          throw new CairnError('E_CONFLICT', 'snapshot already recorded');
        },
      },
    };
  }
}

type Running = { server: Server; hub: ControlHub; url: string; port: number };

async function startServer(
  identity: TlsIdentity,
  ca: CertificateAuthority,
  hooks: HubHooks,
  o: { port?: number; heartbeatMs?: number } = {},
): Promise<Running> {
  const server = createServer(mutualServerTlsOptions(identity, ca.certPem), (_req, res) => res.writeHead(404).end());
  const hub = new ControlHub(server, hooks, { heartbeatMs: o.heartbeatMs });
  const port = o.port ?? 0;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  return { server, hub, url: `https://127.0.0.1:${bound}`, port: bound };
}

async function stopServer(r: Running): Promise<void> {
  await r.hub.close();
  r.server.closeAllConnections();
  await new Promise((resolve) => r.server.close(resolve));
}

/** A client whose state changes are events too. */
function client(o: Omit<ControlClientOptions, 'hello' | 'onState'> & { address?: string }): { c: ControlClient; states: EventEmitter } {
  const states = new EventEmitter();
  const c = new ControlClient({
    hello: () => ({ version: '9.9.9', address: o.address ?? 'host-a' }),
    onState: (state, detail) => void states.emit(state, detail),
    backoffMs: { min: 20, max: 200 },
    ...o,
  });
  return { c, states };
}

describe('control hub and client', () => {
  let ca: CertificateAuthority;
  let serverId: TlsIdentity;
  let agentId: TlsIdentity;
  const agent: PartRef = { kind: 'agent', name: 'a1' };

  before(async () => {
    ca = await createCertificateAuthority('Test CA');
    serverId = await issue(ca, SERVER, ['127.0.0.1']);
    agentId = await issue(ca, agent);
  });

  it('says hello, calls both ways with results and errors, and delivers events', async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks());
    const { c, states } = client({
      server: r.url,
      caPem: ca.certPem,
      identity: agentId,
      self: agent,
      handlers: {
        echo: async (params) => ({ echoed: params }),
        cancel: async () => {
          throw new CairnError('E_NOT_FOUND', 'no run 12 here');
        },
      },
    });
    try {
      const online = once(rec, 'online');
      const clientOnline = once(states, 'online');
      c.start();
      const [part, hello] = await online;
      await clientOnline;
      assert.deepEqual(part, agent);
      const { link, ...said } = hello as { link: number };
      assert.deepEqual(said, { version: '9.9.9', address: 'host-a', runs: [] });
      assert.ok(link > 0);
      assert.deepEqual(rec.admitted, [{ part: agent, fingerprint: certificateFingerprint(agentId.certPem) }]);
      assert.ok(c.connected);
      assert.ok(r.hub.isOnline(agent));

      assert.deepEqual(await r.hub.call(agent, 'echo', { x: [1, 2] }), { echoed: { x: [1, 2] } });
      await assert.rejects(r.hub.call(agent, 'cancel', { run: 12 }), (e) => isCairnError(e, 'E_NOT_FOUND') && e.message === 'no run 12 here');
      await assert.rejects(r.hub.call(agent, 'toString', {}), (e) => isCairnError(e, 'E_NOT_FOUND') && /unknown control method/.test(e.message));
      await assert.rejects(r.hub.call({ kind: 'storage', name: 'a1' }, 'echo', {}), (e) => isCairnError(e, 'E_UNAVAILABLE') && e.message === 'storage a1 is offline');

      assert.deepEqual(await c.call('renewGrant', { run: 4 }), { grant: 'grant for a1 run 4' });
      await assert.rejects(c.call('snapshotCreated', {}), (e) => isCairnError(e, 'E_CONFLICT') && e.message === 'snapshot already recorded');

      const event = once(rec, 'event');
      c.event(4, 'progress', { files: 10, currentPath: '/etc/passwd' });
      const [evPart, frame] = await event;
      assert.deepEqual(evPart, agent);
      assert.deepEqual(frame, { t: 'event', run: 4, kind: 'progress', data: { files: 10, currentPath: '/etc/passwd' } });
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it('pings each part and reports its round-trip time, again every period', async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks(), { heartbeatMs: FAST_HEARTBEAT_MS });
    const { c } = client({ server: r.url, caPem: ca.certPem, identity: agentId, self: agent, handlers: {}, heartbeatMs: FAST_HEARTBEAT_MS });
    try {
      const beats: [PartRef, number][] = [];
      const threeBeats = new Promise<void>((resolve) =>
        rec.on('heartbeat', (part: PartRef, rtt: number) => {
          if (beats.push([part, rtt]) === 3) resolve();
        }),
      );
      c.start();
      await threeBeats;
      for (const [part, rtt] of beats) {
        assert.deepEqual(part, agent);
        assert.ok(Number.isFinite(rtt) && rtt >= 0 && rtt < 60_000, `rtt ${rtt}`);
      }
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it('reconnects after the server restarts on the same port', async () => {
    const rec = new HookRecorder();
    let r = await startServer(serverId, ca, rec.hooks());
    const { c, states } = client({ server: r.url, caPem: ca.certPem, identity: agentId, self: agent, handlers: {} });
    try {
      const first = once(states, 'online');
      c.start();
      await first;
      const offline = once(states, 'offline');
      const hubOffline = once(rec, 'offline');
      await stopServer(r);
      await offline;
      assert.deepEqual((await hubOffline)[1], 'server shutting down');
      assert.equal(c.connected, false);
      await assert.rejects(c.call('renewGrant', { run: 1 }), (e) => isCairnError(e, 'E_UNAVAILABLE'));

      const again = once(states, 'online');
      const rec2Online = once(rec, 'online');
      r = await startServer(serverId, ca, rec.hooks(), { port: r.port });
      await again;
      await rec2Online;
      assert.deepEqual(await c.call('renewGrant', { run: 2 }), { grant: 'grant for a1 run 2' });
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it('refuses a certificate from another CA without asking admit, and the client says so', async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks());
    const otherCa = await createCertificateAuthority('Other CA');
    const { c, states } = client({ server: r.url, caPem: ca.certPem, identity: await issue(otherCa, agent), self: agent, handlers: {} });
    try {
      const offline = once(states, 'offline');
      c.start();
      const [detail] = await offline;
      assert.match(detail, /refused this part's certificate \(HTTP 401\)/);
      assert.deepEqual(rec.admitted, []);
      assert.equal(r.hub.isOnline(agent), false);
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it('refuses a part admit says no to, and drops one it disconnects', async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks());
    const { c, states } = client({ server: r.url, caPem: ca.certPem, identity: agentId, self: agent, handlers: {} });
    try {
      const online = once(states, 'online');
      c.start();
      await online;
      rec.admit = false; // removed by an admin: the redial must be refused
      const hubOffline = once(rec, 'offline');
      const refused = new Promise<string>((resolve) => {
        states.on('offline', (detail: string) => {
          if (/refused/.test(detail)) resolve(detail);
        });
      });
      r.hub.disconnect(agent, 'agent a1 was removed');
      assert.equal(r.hub.isOnline(agent), false);
      assert.deepEqual((await hubOffline)[1], 'agent a1 was removed');
      assert.match(await refused, /HTTP 401/);
      assert.ok(rec.admitted.length >= 2);
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it("answers a removed part 410: its client stops redialling and says why, once", async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks());
    const removals: string[] = [];
    let told!: () => void;
    const removed = new Promise<void>((resolve) => (told = resolve));
    const { c, states } = client({
      server: r.url,
      caPem: ca.certPem,
      identity: agentId,
      self: agent,
      handlers: {},
      onRemoved: (detail) => {
        removals.push(detail);
        told();
      },
    });
    try {
      const online = once(states, 'online');
      c.start();
      await online;
      rec.admit = 'removed';
      r.hub.disconnect(agent, 'removed by an administrator');
      await removed;
      const dials = rec.admitted.length;
      await new Promise((resolve) => setTimeout(resolve, 300)); // backoff is 20-200 ms: a redial would have come
      assert.equal(rec.admitted.length, dials, 'no redial after the removal');
      assert.deepEqual(removals, [`agent ${agent.name} was removed from the backup server at ${r.url} by an administrator`]);
      assert.equal(c.connected, false);
      assert.equal(await c.waitConnected(50), false, 'a stopped client never connects again');
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it('rejects pending calls when the part goes away', async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks());
    let started!: () => void;
    const backupStarted = new Promise<void>((resolve) => (started = resolve));
    const { c, states } = client({
      server: r.url,
      caPem: ca.certPem,
      identity: agentId,
      self: agent,
      handlers: {
        backup: () => {
          started();
          return new Promise(() => {}); // a backup that is still running when the part stops
        },
      },
    });
    try {
      const online = once(states, 'online');
      c.start();
      await online;
      const pending = r.hub.call(agent, 'backup', { run: 1 });
      await backupStarted;
      const offline = once(rec, 'offline');
      await c.close();
      await assert.rejects(pending, (e) => isCairnError(e, 'E_UNAVAILABLE') && e.message === 'agent a1 disconnected');
      assert.deepEqual((await offline)[0], agent);
      assert.equal(r.hub.isOnline(agent), false);
    } finally {
      await c.close();
      await stopServer(r);
    }
  });

  it('lets a second connection of the same part replace the first', async () => {
    const rec = new HookRecorder();
    const r = await startServer(serverId, ca, rec.hooks());
    const first = client({ server: r.url, caPem: ca.certPem, identity: agentId, self: agent, handlers: { who: async () => 'first' } });
    const second = client({ server: r.url, caPem: ca.certPem, identity: agentId, self: agent, handlers: { who: async () => 'second' } });
    try {
      const online1 = once(first.states, 'online');
      first.c.start();
      await online1;
      const replaced = once(first.states, 'offline');
      const online2 = once(second.states, 'online');
      second.c.start();
      await online2;
      assert.match((await replaced)[0], /replaced by a new connection/);
      await first.c.close(); // else it would redial and replace the second in turn
      assert.equal(await r.hub.call(agent, 'who', {}), 'second');
    } finally {
      await first.c.close();
      await second.c.close();
      await stopServer(r);
    }
  });

  describe('what a peer that does not follow the protocol gets', () => {
    let r: Running;
    let rec: HookRecorder;
    before(async () => {
      rec = new HookRecorder();
      r = await startServer(serverId, ca, rec.hooks());
    });
    after(() => stopServer(r));

    function raw(path = '/api/control'): WebSocket {
      const tls = partTlsOptions({ ca: ca.certPem, expect: SERVER, identity: agentId });
      return new WebSocket(`wss://127.0.0.1:${r.port}${path}`, tls as WebSocket.ClientOptions);
    }

    it('closes with 1008 on a malformed frame', async () => {
      const ws = raw();
      await once(ws, 'open');
      ws.send('{not json');
      const [code] = await once(ws, 'close');
      assert.equal(code, 1008);
    });

    it('closes with 1008 when the first frame is not hello', async () => {
      const ws = raw();
      await once(ws, 'open');
      ws.send(JSON.stringify({ t: 'call', id: 1, method: 'renewGrant', params: { run: 1 } }));
      const [code, reason] = await once(ws, 'close');
      assert.equal(code, 1008);
      assert.equal(reason.toString(), 'call before hello');
      assert.equal(r.hub.isOnline(agent), false);
    });

    it('drops a part that stops answering pings', async () => {
      const fast = await startServer(serverId, ca, rec.hooks(), { heartbeatMs: FAST_HEARTBEAT_MS });
      const tls = partTlsOptions({ ca: ca.certPem, expect: SERVER, identity: agentId });
      const ws = new WebSocket(`wss://127.0.0.1:${fast.port}/api/control`, { ...(tls as WebSocket.ClientOptions), autoPong: false });
      try {
        await once(ws, 'open');
        const online = once(rec, 'online');
        const offline = once(rec, 'offline');
        ws.send(JSON.stringify({ t: 'hello', version: '1', address: 'mute' }));
        await online;
        assert.ok(fast.hub.isOnline(agent));
        const [part, reason] = await offline;
        assert.deepEqual(part, agent);
        assert.equal(reason, 'missed 3 heartbeats');
        assert.equal(fast.hub.isOnline(agent), false);
      } finally {
        ws.terminate();
        await stopServer(fast);
      }
    });

    it('answers 404 on another path', async () => {
      const ws = raw('/api/elsewhere');
      const [, res] = await once(ws, 'unexpected-response');
      assert.equal(res.statusCode, 404);
      const aborted = once(ws, 'error'); // ws reports the abandoned handshake as an error
      ws.terminate();
      await aborted;
    });
  });
});

// The server's end of the control channel (docs/control-plane.md "Control channel"): it takes
// the WebSocket upgrades on /api/control from parts whose certificate chains to the CA and that
// the catalog admits, keeps one link per part (a new one replaces the old), pings each part to
// measure its RTT and notice when it is gone, and lets the rest of the server call a part by
// name. What online, offline and each call mean is the hooks' business.
import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { CairnError } from '../core/errors.ts';
import { peerPart } from '../core/tls.ts';
import { CONTROL_PATH, type EventFrame, HEARTBEAT_MISSES, HEARTBEAT_MS, type HelloFrame, MAX_FRAME_BYTES, parseFrame } from '../protocol/control.ts';
import { ControlRpc, ownHandler } from '../protocol/control-rpc.ts';

export type PartRef = { kind: 'agent' | 'storage'; name: string };

export type HubHooks = {
  /** may this peer connect? (enrolled, not removed, fingerprint = the enrolled one); 'removed' is answered 410 */
  admit(part: PartRef, fingerprint: string): Promise<boolean | 'removed'>;
  /** `link`: the link's sequence number (calls made on it after the hello are not in its `runs`) */
  online(part: PartRef, hello: { version: string; address: string; runs: number[]; link: number }): Promise<void> | void;
  offline(part: PartRef, reason: string): Promise<void> | void;
  heartbeat(part: PartRef, rttMs: number): Promise<void> | void;
  /** part → server calls (e.g. snapshotCreated, snapshotIndex, renewGrant) */
  handlers: Record<string, (part: PartRef, params: unknown) => Promise<unknown>>;
  event(part: PartRef, frame: EventFrame): void;
};

export type HubOptions = {
  /** ping period (tests shorten it) */
  heartbeatMs?: number;
  log?: (line: string) => void;
};

/** One part's live link, in the map once the part said hello. */
type Link = {
  part: PartRef;
  ws: WebSocket;
  rpc: ControlRpc;
  /** why the link is being dropped, once something decided it (heartbeats, replacement, removal) */
  dropReason?: string;
  dropped: boolean;
  /** set at welcome: links are numbered in the order their hellos arrived */
  seq: number;
};

function keyOf(part: PartRef): string {
  return `${part.kind}:${part.name}`;
}

function refuse(socket: Duplex, status: string): void {
  if (socket.writable) socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export class ControlHub {
  readonly #server: Server;
  readonly #hooks: HubHooks;
  readonly #heartbeatMs: number;
  readonly #log: (line: string) => void;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  readonly #links = new Map<string, Link>();
  #seq = 0;
  #closing = false;

  constructor(server: Server, hooks: HubHooks, options: HubOptions = {}) {
    this.#server = server;
    this.#hooks = hooks;
    this.#heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.#log = options.log ?? (() => {});
    server.on('upgrade', this.#onUpgrade);
  }

  isOnline(part: PartRef): boolean {
    return this.#links.has(keyOf(part));
  }

  /** The sequence number of the part's current link (0 when offline). */
  linkSeq(part: PartRef): number {
    return this.#links.get(keyOf(part))?.seq ?? 0;
  }

  /** Calls `method` on the part; without `timeoutMs` it waits as long as the link lives. */
  call(part: PartRef, method: string, params: unknown, timeoutMs?: number): Promise<unknown> {
    const link = this.#links.get(keyOf(part));
    if (!link) return Promise.reject(new CairnError('E_UNAVAILABLE', `${part.kind} ${part.name} is offline`));
    return link.rpc.call(method, params, timeoutMs);
  }

  /** Drops the part's link now (e.g. it was removed); its redial is then refused by admit. */
  disconnect(part: PartRef, reason: string): void {
    const link = this.#links.get(keyOf(part));
    if (!link) return;
    this.#drop(link, reason);
    link.ws.close(1008, reason.slice(0, 120));
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#server.off('upgrade', this.#onUpgrade);
    const sockets = [...this.#wss.clients];
    for (const link of this.#links.values()) this.#drop(link, 'server shutting down');
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.close(1001, 'server shutting down');
            setTimeout(() => ws.terminate(), 1000).unref(); // a part that does not answer the close is not waited for
          }),
      ),
    );
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (e) => this.#log(`control: upgrade socket error: ${e.message}`));
    const path = (req.url ?? '').split('?')[0];
    if (path !== CONTROL_PATH) return refuse(socket, '404 Not Found');
    if (this.#closing) return refuse(socket, '503 Service Unavailable');
    const peer = peerPart(req.socket as TLSSocket);
    if (!peer || peer.part.kind === 'server') {
      this.#log(`control: refused a connection from ${req.socket.remoteAddress ?? '?'} without a part certificate from this CA`);
      return refuse(socket, '401 Unauthorized');
    }
    const part: PartRef = { kind: peer.part.kind, name: peer.part.name };
    void this.#hooks.admit(part, peer.fingerprint).then(
      (admitted) => {
        // 410 tells a removed part to stop rather than redial
        if (admitted === 'removed') {
          this.#log(`control: refused ${part.kind} ${part.name} (removed by an administrator)`);
          return refuse(socket, '410 Gone');
        }
        if (!admitted) {
          this.#log(`control: refused ${part.kind} ${part.name} (not enrolled, removed, or another certificate)`);
          return refuse(socket, '401 Unauthorized');
        }
        if (this.#closing || socket.destroyed) return refuse(socket, '503 Service Unavailable');
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, part));
      },
      (e: unknown) => {
        this.#log(`control: admitting ${part.kind} ${part.name} failed: ${(e as Error)?.message ?? String(e)}`);
        refuse(socket, '503 Service Unavailable');
      },
    );
  };

  #accept(ws: WebSocket, part: PartRef): void {
    const rpc = new ControlRpc(ws, {
      handle: (method, params) => ownHandler(this.#hooks.handlers, method)(part, params),
      onEvent: (frame) => this.#hooks.event(part, frame),
      log: this.#log,
    });
    const link: Link = { part, ws, rpc, dropped: false, seq: 0 };
    let hello: HelloFrame | undefined;
    const misses = { missed: 0, awaiting: false };
    const violation = (message: string) => {
      link.dropReason ??= message;
      ws.close(1008, message.slice(0, 120));
    };
    const noHello = setTimeout(() => violation('no hello'), this.#heartbeatMs * HEARTBEAT_MISSES);
    const ping = () => {
      if (misses.awaiting && ++misses.missed >= HEARTBEAT_MISSES) {
        link.dropReason ??= `missed ${HEARTBEAT_MISSES} heartbeats`;
        return ws.terminate();
      }
      misses.awaiting = true;
      // the pong echoes the payload, so the RTT is right even when pongs arrive late or out of step
      ws.ping(String(performance.now()));
    };
    const heartbeat = setInterval(ping, this.#heartbeatMs);

    ws.on('pong', (data) => {
      misses.awaiting = false;
      misses.missed = 0;
      const sentAt = Number(data.toString());
      if (!Number.isFinite(sentAt) || link.dropped || this.#links.get(keyOf(part)) !== link) return;
      this.#runHook('heartbeat', part, () => this.#hooks.heartbeat(part, Math.max(0, performance.now() - sentAt)));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return violation('text frames only');
      let frame;
      try {
        frame = parseFrame(data.toString());
      } catch (e) {
        return violation((e as Error).message);
      }
      if (!hello) {
        if (frame.t !== 'hello') return violation(`${frame.t} before hello`);
        hello = frame;
        clearTimeout(noHello);
        this.#welcome(link, hello);
        ping();
        return;
      }
      if (frame.t === 'hello' || frame.t === 'welcome') return violation(`${frame.t} after hello`);
      rpc.receive(frame);
    });
    ws.on('error', (e) => {
      link.dropReason ??= e.message;
    });
    ws.on('close', (code, reason) => {
      clearTimeout(noHello);
      clearInterval(heartbeat);
      this.#drop(link, link.dropReason ?? (reason.length > 0 ? reason.toString() : `connection closed (${code})`));
    });
  }

  #welcome(link: Link, hello: HelloFrame): void {
    const key = keyOf(link.part);
    const old = this.#links.get(key);
    link.seq = ++this.#seq;
    this.#links.set(key, link);
    if (old) {
      // the part redialled before the old link was noticed dead (or a copy runs elsewhere): the newest wins
      this.#drop(old, 'replaced by a new connection');
      old.ws.close(1008, 'replaced by a new connection');
    }
    link.rpc.send({ t: 'welcome', name: link.part.name });
    this.#log(`control: ${link.part.kind} ${link.part.name} online (${hello.version}, ${hello.address})`);
    this.#runHook('online', link.part, () => this.#hooks.online(link.part, { version: hello.version, address: hello.address, runs: hello.runs ?? [], link: link.seq }));
  }

  /** Ends a link once: its pending calls fail, and when it was the part's current link the part goes offline. */
  #drop(link: Link, reason: string): void {
    if (link.dropped) return;
    link.dropped = true;
    link.rpc.failAll(new CairnError('E_UNAVAILABLE', `${link.part.kind} ${link.part.name} disconnected`));
    const key = keyOf(link.part);
    if (this.#links.get(key) !== link) return;
    this.#links.delete(key);
    this.#log(`control: ${link.part.kind} ${link.part.name} offline: ${reason}`);
    this.#runHook('offline', link.part, () => this.#hooks.offline(link.part, reason));
  }

  #runHook(name: string, part: PartRef, run: () => Promise<void> | void): void {
    void Promise.resolve()
      .then(run)
      .catch((e: unknown) => this.#log(`control: ${name} hook for ${part.kind} ${part.name} failed: ${(e as Error)?.message ?? String(e)}`));
  }
}

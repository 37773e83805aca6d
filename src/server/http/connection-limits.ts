// What one client may hold of the REST server: its request headers within 10 s and the whole
// request within 30 s (a slow sender cannot pin a socket and a parser: a slow-loris), a
// keep-alive connection closed after 60 s idle, and at most 100 connections open per address.
// The timeouts bound receiving a request only: a response may take as long as it needs, so an
// event stream (SSE) or a control WebSocket, whose requests are complete once their headers are
// in, stay open. Parts are exempt from the per-address count once TLS shows a certificate from
// the CA (many agents behind one NAT are normal); until then every connection counts.
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { testDuration } from '../../core/test-settings.ts';

export const MAX_CONNECTIONS_PER_ADDRESS = 100;

/** The server options bounding how long a client may take to send a request and to stay idle. */
export function requestTimeouts(): { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number } {
  const headersTimeout = testDuration('HTTP_HEADERS', 10_000);
  // Node refuses a request timeout below the headers one
  const requestTimeout = Math.max(headersTimeout, testDuration('HTTP_REQUEST', 30_000));
  const keepAliveTimeout = testDuration('HTTP_KEEP_ALIVE', 60_000);
  // Node enforces the two request timeouts on this tick (default 30 s, which would triple the 10 s)
  const connectionsCheckingInterval = Math.max(20, Math.min(1000, Math.floor(headersTimeout / 10)));
  return { headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval };
}

/** Destroys a new connection beyond `max` open ones from its address; a part's (CA certificate) stops counting. */
export function limitConnectionsPerAddress(server: Server, max = MAX_CONNECTIONS_PER_ADDRESS): void {
  const open = new Map<string, Set<Socket>>();
  const release = (address: string, socket: Socket) => {
    const sockets = open.get(address);
    if (!sockets?.delete(socket)) return;
    if (sockets.size === 0) open.delete(address);
  };
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) return socket.destroy(); // already gone
    let sockets = open.get(address);
    if (!sockets) open.set(address, (sockets = new Set()));
    if (sockets.size >= max) return socket.destroy();
    sockets.add(socket);
    socket.once('close', () => release(address, socket));
  });
  server.on('secureConnection', (tls: TLSSocket) => {
    if (!tls.authorized || tls.remoteAddress === undefined) return;
    // the TLS socket wraps the counted one: the same address and port
    for (const socket of open.get(tls.remoteAddress) ?? []) if (socket.remotePort === tls.remotePort) release(tls.remoteAddress, socket);
  });
}

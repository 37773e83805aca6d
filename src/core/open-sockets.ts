// Every socket a TLS server has accepted, from its first byte, so a stop can end them all (the
// TLS sockets HTTP runs on among them: what closeAllConnections() would end, and more). Node's
// closeAllConnections() knows a connection only once its TLS handshake is done and its HTTP
// parser attached; server.close() waits for the others. A console that dialled just as the
// backup server's stop began finished its handshake after closeAllConnections, then asked again
// every second on that kept-alive connection ("the server is shutting down"), holding the stop
// open for the 30 s it was willing to wait. The storage server cuts its drain with it too: a
// client silent in its handshake would otherwise hold the stop for TLS's 120 s handshake timeout.
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export type OpenSockets = {
  /** Destroys every accepted socket, mid-handshake or kept alive, and every TLS connection on them. */
  destroyAll(): void;
};

export function trackOpenSockets(server: Server): OpenSockets {
  const open = new Set<Socket>();
  const hold = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  server.on('connection', hold);
  // the TLS socket wraps the accepted one; destroying it is what ends the HTTP side
  server.on('secureConnection', (tls: TLSSocket) => hold(tls));
  return {
    destroyAll: () => {
      for (const socket of [...open]) socket.destroy();
    },
  };
}

// The storage server's HTTPS data plane: TLS 1.3 only, HTTP/1.1 keep-alive. Every request is
// routed and validated (protocol/data-plane.ts), authorized (authorize.ts), then handed to its
// handler; any failure becomes one JSON error answer (http-io.ts). Uploads that announce
// `Expect: 100-continue` are checked (route, key, size, already stored) before their body is sent.
// A connection with no byte either way for dataIdleMs (60 s) while a request is under way is
// closed (the handler sees the client gone); there is no limit on a request that keeps moving,
// so a pack uploaded at a low --bwlimit is not cut off. Every request is counted in `inFlight`, so
// a stopping server closes its vaults only after the last handler settled; once stopping, a new
// request is refused 503 on a connection then closed (in-flight.ts).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createServer, type Server } from 'node:https';
import { mutualServerTlsOptions, serverTlsOptions, type TlsIdentity } from '../core/tls.ts';
import { dataIdleMs, matchRoute } from '../protocol/data-plane.ts';
import type { Authorize } from './authorize.ts';
import { handlers, type RequestContext } from './data-plane-handlers.ts';
import { sendError } from './http-io.ts';
import type { StorageMetrics } from './metrics.ts';
import type { InFlight } from './in-flight.ts';
import type { VaultStore } from './vault-store.ts';

export type DataPlaneOptions = {
  identity: TlsIdentity;
  store: VaultStore;
  authorize: Authorize;
  /** server mode: the backup server's CA; clients are asked for a certificate (the authorizer decides) */
  clientCa?: string;
  /** counts each answered request by route and status (--metrics-listen) */
  metrics?: StorageMetrics;
  /** counts the running handlers for a clean stop (refusing new ones once stopping) */
  inFlight: InFlight;
};

/**
 * A request without a run (a standalone server's: an access key, no grant) vouches for its
 * connection: one client's backup, whose snapshot upload on that connection releases what it was
 * promised there; its other connections' vouches go once idle. Random, and with a colon no run
 * id has (grant.ts), so a key never claims a grant's run or, after a restart, older vouches.
 */
const connectionRuns = new WeakMap<Socket, string>();
function connectionRun(socket: Socket): string {
  let run = connectionRuns.get(socket);
  if (run === undefined) connectionRuns.set(socket, (run = `connection:${randomUUID()}`));
  return run;
}

export function createDataPlaneServer(options: DataPlaneOptions): Server {
  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) =>
    options.inFlight.run(() => serve(req, res, expectContinue)).catch((e: unknown) => {
      // refused: the server is stopping; this connection is not kept for another request
      res.setHeader('connection', 'close');
      sendError(req, res, e);
    });
  const serve = async (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    let continued = !expectContinue;
    let route = 'unknown';
    const metrics = options.metrics;
    if (metrics) res.once('finish', () => metrics.request(route, res.statusCode));
    try {
      const match = matchRoute(req.method ?? '', req.url ?? '');
      route = match.route;
      const run = options.authorize(req, { op: match.op, vault: match.vault });
      const ctx: RequestContext = {
        req,
        res,
        match,
        store: options.store,
        run: run ?? connectionRun(req.socket),
        startBody: () => {
          if (continued) return;
          continued = true;
          res.writeContinue();
        },
        ...(metrics ? { metrics } : {}),
      };
      await handlers[match.route](ctx);
    } catch (e) {
      sendError(req, res, e);
    }
  };
  const server = createServer({
    ...(options.clientCa === undefined
      ? serverTlsOptions(options.identity)
      : mutualServerTlsOptions(options.identity, options.clientCa)),
    keepAlive: true,
    keepAliveTimeout: 30_000,
    requestTimeout: 0, // a 64 MiB pack over a throttled link may take long; silence is what ends a request
  });
  server.setTimeout(dataIdleMs()); // no listener: Node closes the idle socket
  server.on('request', (req, res) => void handle(req, res, false));
  server.on('checkContinue', (req, res) => void handle(req, res, true));
  server.on('tlsClientError', () => {
    // A client that does not trust us (or speaks TLS < 1.3) fails its handshake; nothing to answer.
  });
  return server;
}

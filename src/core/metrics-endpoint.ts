// `--metrics-listen HOST:PORT` of every daemon: a plain-HTTP `GET /metrics` serving one
// prom-client Registry in the Prometheus text format (bind it to loopback or a management
// network: it has no TLS and no login). Each daemon makes its own Registry with newRegistry(),
// which carries prom-client's process and Node.js metrics except the three gauges it names
// `…_total` (nodejs_active_{handles,requests,resources}_total), which `promtool check metrics`
// rejects: the same figures stay exported without the suffix.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CairnError } from './errors.ts';
import { formatListen, isWildcard, parseListen } from './listen.ts';

const NOT_PROMTOOL_CLEAN = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** A registry with the process metrics promtool accepts. */
export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of NOT_PROMTOOL_CLEAN) registry.removeSingleMetric(name);
  return registry;
}

export type MetricsEndpoint = {
  /** http://HOST:PORT/metrics as this machine reaches it (a wildcard bind as 127.0.0.1) */
  url: string;
  close: () => Promise<void>;
};

/** Serves `registry` at GET /metrics on `listen`; a taken port fails with E_UNAVAILABLE naming it. */
export async function serveMetrics(listen: string, registry: Registry): Promise<MetricsEndpoint> {
  const { host, port } = parseListen(listen, 'metrics-listen');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics not collected: ${(e as Error).message}\n`);
      },
    );
  });
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new CairnError('E_UNAVAILABLE', `--metrics-listen: cannot listen on ${formatListen(host, port)}: ${e.code ?? e.message}`, { cause: e })),
    );
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
  // a scrape is one short request: nothing to drain on close
  return {
    url: `http://${formatListen(isWildcard(host) ? '127.0.0.1' : host, address.port)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// Starting and stopping a storage server from its data directory: the directory lock (one
// process per directory), the setup its mode needs (storage-setup.ts: storage.json, the TLS
// identity, standalone or enrolled with a backup server), the vault store, the data plane, and
// in server mode the control link to the backup server for vault creation and scrubs and the
// certificate's renewal (docs/control-plane.md).
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { lockDataDir } from '../core/data-dir-lock.ts';
import { chooseAdvertise, formatListen, localUrl, parseListen, reachableUrl } from '../core/listen.ts';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { certificateFingerprint, mutualServerTlsOptions, type TlsIdentity } from '../core/tls.ts';
import type { RenewalChecks } from '../core/cert-life.ts';
import { testDuration } from '../core/test-settings.ts';
import { type OpenSockets, trackOpenSockets } from '../core/open-sockets.ts';
import { storageControlHandlers } from './control-handlers.ts';
import { createDataPlaneServer } from './data-plane-server.ts';
import { InFlight } from './in-flight.ts';
import { VaultStore } from './vault-store.ts';
import type { MetricsEndpoint } from '../core/metrics-endpoint.ts';
import { type Enrollment, readSaved, saveSettings, serverSetup, standaloneSetup, type StorageSettings, usage } from './storage-setup.ts';

export type { StorageSettings };

export type StartStorageOptions = {
  dataDir: string;
  /** HOST:PORT; required at first start, saved after */
  listen?: string;
  /** the backup server's URL: server mode (saved after enrollment) */
  server?: string;
  /** enrollment token, used the first time in server mode */
  token?: string;
  /** this storage server's part name, given at enrollment */
  name?: string;
  /** reported to the backup server */
  version?: string;
  /** the https URL agents reach the data plane at, when not the listen address (NAT, a wildcard bind, a name); saved (`none` forgets it) */
  advertise?: string;
  /** refuse deletes and overwrites; gc only with the code written to DATA/gc-confirm (saved) */
  appendOnly?: boolean;
  /** where control-link state lines go (default stderr) */
  log?: (line: string) => void;
  /** HOST:PORT to serve GET /metrics on, plain HTTP (not saved: a start without it serves none) */
  metricsListen?: string;
};

export type RunningStorage = {
  url: string;
  fingerprint: string;
  dataDir: string;
  name: string;
  mode: StorageSettings['mode'];
  appendOnly: boolean;
  /** where GET /metrics is served (with metricsListen) */
  metricsUrl?: string;
  /** resolves with a sentence when the backup server says an administrator removed this storage server (never otherwise) */
  removed: Promise<string>;
  /** Stops accepting, lets in-flight requests finish, closes the vaults, releases the lock. */
  stop: () => Promise<void>;
};

/**
 * Renews the certificate at two thirds of its life (protocol/cert-renewer.ts); a renewed one
 * serves the data plane's new connections (setSecureContext) and the control channel's next dial.
 */
async function startStorageRenewal(
  dataDir: string,
  settings: StorageSettings & { mode: 'server' },
  enrollment: Enrollment,
  control: { connected: boolean; call(method: string, params: unknown): Promise<unknown>; setIdentity(identity: TlsIdentity): void },
  dataPlane: Server,
  log: (line: string) => void,
): Promise<RenewalChecks> {
  const { startPartRenewal } = await import('../protocol/cert-renewer.ts');
  let identity = enrollment.identity;
  return startPartRenewal({
    tlsDir: join(dataDir, 'tls'),
    self: { kind: 'storage', name: settings.name },
    server: settings.server,
    caPem: enrollment.caPem,
    current: () => identity,
    connected: () => control.connected,
    call: (method, params) => control.call(method, params),
    apply: (renewed) => {
      identity = renewed;
      dataPlane.setSecureContext(mutualServerTlsOptions(renewed, enrollment.caPem));
      control.setIdentity(renewed);
    },
    log,
    reenrollHint: `stop the storage server and start it again with --data ${dataDir} --token T (cairn token create --kind storage) to re-enroll as ${settings.name}`,
  });
}

// ---- both modes

function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new CairnError('E_UNAVAILABLE', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, { cause: e })),
    );
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

/** How long a stopping storage server lets in-flight requests run before it cuts them. */
function drainMs(): number {
  return testDuration('STORAGE_DRAIN', 30_000);
}

function closeDataPlane(server: Server, sockets: OpenSockets): Promise<void> {
  const closed = new Promise<void>((res) => server.close(() => res()));
  // In-flight requests finish; keep-alive connections are closed as soon as they go idle,
  // and anything still open after 30 s is cut, a connection still in its handshake too.
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  const deadline = setTimeout(() => sockets.destroyAll(), drainMs());
  server.closeIdleConnections();
  return closed.finally(() => {
    clearInterval(idle);
    clearTimeout(deadline);
  });
}

export async function startStorage(options: StartStorageOptions): Promise<RunningStorage> {
  const dataDir = resolve(options.dataDir);
  const log = options.log ?? ((line: string) => process.stderr.write(`cairn storage: ${line}\n`));
  await mkdir(dataDir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fromSystemError(e, `creating ${dataDir}`);
  });
  const unlock = await lockDataDir(dataDir, 'storage');
  let store: VaultStore | undefined;
  let server: Server | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  const inFlight = new InFlight();
  try {
    // bound first: a taken port fails the start before an enrollment spends the token
    // prom-client is loaded only by a daemon that serves metrics
    const metrics = options.metricsListen !== undefined ? new (await import('./metrics.ts')).StorageMetrics() : undefined;
    if (metrics) metricsEndpoint = await (await import('../core/metrics-endpoint.ts')).serveMetrics(options.metricsListen!, metrics.registry);
    const saved = await readSaved(dataDir);
    const serverMode = options.server !== undefined || saved?.mode === 'server';
    if (!serverMode && options.token !== undefined) throw usage('--token needs --server URL');
    if (!serverMode && options.advertise !== undefined) throw usage('--advertise needs --server URL: a standalone storage server tells no one its address');
    chooseAdvertise(options.advertise, undefined); // checked before an enrollment spends the token
    const setup = serverMode ? await serverSetup(dataDir, saved, { ...options, log }) : await standaloneSetup(dataDir, saved, options.listen, options.appendOnly);
    const { settings, identity } = setup;
    store = new VaultStore(dataDir);
    await store.init();
    metrics?.attach(store);
    server = createDataPlaneServer({ identity, store, authorize: setup.authorize, clientCa: setup.clientCa, metrics, inFlight });
    const sockets = trackOpenSockets(server);
    const { host, port } = parseListen(settings.listen);
    const address = await listenOn(server, host, port);
    // A server-mode storage started on port 0 keeps the port it got: the backup server and the
    // agents know it by that address.
    if (settings.mode === 'server' && port === 0)
      await saveSettings(dataDir, { ...settings, listen: formatListen(host, address.port) }, settings);
    const url = localUrl(host, address.port);
    // what the backup server tells agents to dial: --advertise, or an address other machines can reach
    const reachable = settings.mode === 'server' ? reachableUrl(host, address.port, settings.advertise) : url;

    let control: { start(): void; close(): Promise<void> } | undefined;
    let onRemoved!: (detail: string) => void;
    const removed = new Promise<string>((resolve) => (onRemoved = resolve));
    let renewals: RenewalChecks | undefined;
    if (settings.mode === 'server' && setup.enrollment && setup.revoked) {
      const { ControlClient } = await import('../protocol/control-client.ts');
      const client = new ControlClient({
        server: settings.server,
        caPem: setup.enrollment.caPem,
        identity,
        self: { kind: 'storage', name: settings.name },
        hello: () => ({ version: options.version ?? '0.1.0', address: reachable }),
        // a gc run's phase and log lines go back over this same connection
        handlers: inFlight.wrap(storageControlHandlers(store, { appendOnly: settings.appendOnly === true, log, metrics, revoked: setup.revoked, event: (run, kind, data) => client.event(run, kind, data) })),
        onRemoved,
        log, // connection state lines ("control: online: …") come through here
      });
      control = client;
      client.start();
      if (reachable !== url) log(`announced to the backup server as ${reachable}`);
      renewals = await startStorageRenewal(dataDir, settings, setup.enrollment, client, server, log);
    }

    const vaults = store;
    const dataPlane = server;
    const endpoint = metricsEndpoint;
    let stopping: Promise<void> | undefined;
    return {
      url,
      fingerprint: certificateFingerprint(identity.certPem),
      dataDir,
      name: settings.name,
      mode: settings.mode,
      appendOnly: settings.appendOnly === true,
      ...(metricsEndpoint ? { metricsUrl: metricsEndpoint.url } : {}),
      removed,
      stop: () => {
        stopping ??= (async () => {
          inFlight.stop(); // what runs finishes; anything new is refused as unavailable
          await renewals?.stop();
          await control?.close(); // no new orders while the data plane drains
          await closeDataPlane(dataPlane, sockets);
          // a handler can outlive its connection (a client gone, or cut at the deadline): its last write lands before the vaults close
          const left = await inFlight.drained(drainMs());
          if (left > 0) log(`${left} request(s) still running after ${drainMs() / 1000} s; closing the vaults anyway`);
          await vaults.close();
          await endpoint?.close();
          await unlock();
        })();
        return stopping;
      },
    };
  } catch (e) {
    if (server?.listening) server.close();
    await store?.close();
    await metricsEndpoint?.close();
    await unlock();
    throw e;
  }
}

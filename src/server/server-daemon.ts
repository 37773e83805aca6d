// The backup server process: `initServer` makes a data folder (CA, keys, catalog, first admin);
// `startServer` locks it, opens and migrates the catalog, fails the runs a previous process left
// running, and serves HTTPS (TLS 1.3, client certificates requested for parts) with the REST API,
// the control channel for parts and the scheduler.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { lockDataDir } from '../core/data-dir-lock.ts';
import { now, testDuration } from '../core/test-settings.ts';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { trackOpenSockets } from '../core/open-sockets.ts';
import { apiRoutes } from './api/routes.ts';
import { AlertCenter } from './alerts.ts';
import { NetMonitor } from './net-monitor.ts';
import { audit, auditScheduler, finishAudit } from './audit.ts';
import { Accounts } from './auth/accounts.ts';
import { LoginLimiter } from './auth/login-limiter.ts';
import { allows, type Role } from './auth/roles.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';
import type { ServerContext } from './context.ts';
import { ControlHub, type PartRef } from './control-hub.ts';
import { EventHub } from './http/events.ts';
import { limitConnectionsPerAddress, requestTimeouts } from './http/connection-limits.ts';
import { Router } from './http/router.ts';
import { admitPart, createPartToken, partHeartbeat, partOffline, partOnline } from './parts.ts';
import { sendRevokedList } from './revocation.ts';
import { PartLog, setProgress } from './runs.ts';
import { DEFAULT_LIMITS, type Limits } from './queue.ts';
import { Scheduler } from './scheduler.ts';
import { initServerFiles, keepSecret, loadServerFiles, renewServerLeaf, saveSettings } from './server-files.ts';
import { renewPartCertificate } from './cert-renewal.ts';
import { certValidity, startRenewalChecks } from '../core/cert-life.ts';
import { checkBody } from '../protocol/api-schema.ts';
import { HEARTBEAT_MS, type RenewCertificateParams, renewCertificateSchema } from '../protocol/control.ts';
import { snapshotCreated, snapshotIndex } from './snapshots.ts';
import { chooseAdvertise, formatListen, localUrl, parseListen, reachableUrl } from '../core/listen.ts';
import { Rebuilds } from './rebuild.ts';
import { ensureConsoleBuilt, CONSOLE_DIST } from './web/console-build.ts';
import { consoleFiles } from './web/console-files.ts';
import { loadWebIdentity, serverTls, type WebCertFiles } from './web-cert.ts';
import { refreshInBackground, startFiguresRefresh } from './storage-figures.ts';
import type { MetricsEndpoint } from '../core/metrics-endpoint.ts';
import { TOKEN_TTL } from '../protocol/api-token.ts';

export const SERVER_VERSION = '0.1.0';

function agentOnly(part: PartRef): PartRef {
  if (part.kind !== 'agent') throw new CairnError('E_FORBIDDEN', `only an agent may make this call, not ${part.kind} ${part.name}`);
  return part;
}

export type InitResult = { caPath: string; caFingerprint: string; admin: string; adminPassword?: string; passwordFile?: string };

export async function initServer(options: { dataDir: string; admin?: string; adminPassword?: string }): Promise<InitResult> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fromSystemError(e, `creating ${dataDir}`);
  });
  const unlock = await lockDataDir(dataDir, 'server');
  try {
    const admin = options.admin ?? 'admin';
    const generated = options.adminPassword === undefined ? randomBytes(18).toString('base64url') : undefined;
    const { caFingerprint } = await initServerFiles(dataDir);
    const db = new SqliteDriver(join(dataDir, 'catalog.db'));
    try {
      await migrate(db);
      await new Accounts(db).createUser(admin, 'admin', options.adminPassword ?? generated!);
    } finally {
      await db.close();
    }
    const passwordFile = generated ? await keepSecret(dataDir, 'admin-password', generated) : undefined;
    return { caPath: join(dataDir, 'ca.pem'), caFingerprint, admin, ...(generated ? { adminPassword: generated, passwordFile } : {}) };
  } finally {
    await unlock();
  }
}

/** `cairn up` replaces its API token when less than this is left. */
const UP_TOKEN_RENEW_MS = 30 * 86_400_000;
/** A stop step taking longer than this is logged (a restart that seems to hang says why). */
const SLOW_STOP_STEP_MS = 2_000;

export type RunningServer = {
  url: string;
  caFingerprint: string;
  caPem: string;
  dataDir: string;
  /** where GET /metrics is served (with metricsListen) */
  metricsUrl?: string;
  /** for `cairn up`, which runs the server in its own process: tokens without a login */
  local: {
    /** the user's one `cairn up` API token: `current` while it has 30 days left, else a new one (the old revoked) */
    apiToken: (user: string, current?: string) => Promise<string>;
    partToken: (kind: 'agent' | 'storage', user: string) => Promise<string>;
    /** sets a storage server's gc schedule unless it has one */
    storageGcSchedule: (name: string, cron: string) => Promise<void>;
  };
  stop: () => Promise<void>;
};

export type StartServerOptions = {
  dataDir: string;
  /** HOST:PORT; required at first start, saved after */
  listen?: string;
  /** the https URL parts and consoles reach the server at, when not the listen address; saved (`none` forgets it) */
  advertise?: string;
  /** runs at once (saved; defaults 8 / 1 / 4) */
  limits?: Partial<Limits>;
  log?: (line: string) => void;
  /** HOST:PORT to serve GET /metrics on, plain HTTP (not saved: a start without it serves none) */
  metricsListen?: string;
  /** the site's certificate and key files for the API and web console (saved; `none` forgets them) */
  web?: WebCertFiles | 'none';
};

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const dataDir = resolve(options.dataDir);
  const log = options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const unlock = await lockDataDir(dataDir, 'server');
  let db: SqliteDriver | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  try {
    const saved = await loadServerFiles(dataDir);
    const listen = options.listen ?? saved.settings.listen;
    if (!listen) throw new CairnError('E_USAGE', 'server start: --listen HOST:PORT is required at first start');
    const { host, port } = parseListen(listen);
    const advertise = chooseAdvertise(options.advertise, saved.settings.advertise);
    // read and checked before anything is served: a bad file fails the start
    const webFiles = options.web === 'none' ? undefined : (options.web ?? saved.settings.web);
    const web = webFiles === undefined ? undefined : await loadWebIdentity(webFiles);
    const files = await loadServerFiles(dataDir, [host, ...(advertise ? [new URL(advertise).hostname] : [])]);
    db = new SqliteDriver(join(dataDir, 'catalog.db'));
    await migrate(db);
    const timeouts = requestTimeouts();
    const tls = serverTls(files.identity, files.ca.certPem, web);
    const server: Server = createServer({ ...tls.options, ...timeouts });
    server.keepAliveTimeout = timeouts.keepAliveTimeout;
    limitConnectionsPerAddress(server);
    const openSockets = trackOpenSockets(server);
    const events = new EventHub();
    const late: { scheduler?: Scheduler } = {};
    const ctx = { db, accounts: new Accounts(db), limiter: new LoginLimiter(), events, ca: files.ca, caFingerprint: files.caFingerprint } as Partial<ServerContext>;
    Object.assign(ctx, {
      dataDir,
      grantKey: files.grantKey,
      grantPublicKeyPem: files.grantPublicKeyPem,
      url: '', // set once listening: nothing reads it before a request can arrive
      version: SERVER_VERSION,
      log,
      kick: () => late.scheduler?.kick(),
      limits: { ...DEFAULT_LIMITS, ...saved.settings.limits, ...options.limits },
      net: new NetMonitor(db, log),
    });
    const c = ctx as ServerContext;
    c.hub = new ControlHub(server, {
      admit: (part, fingerprint) => admitPart(c, part, fingerprint),
      online: async (part, hello) => {
        await partOnline(c, part, hello);
        if (part.kind === 'agent') await scheduler.agentOnline(part.name, hello.runs, hello.link);
        else {
          // the revoked list before anything else: it serves no grant until it has it
          await sendRevokedList(c, part);
          scheduler.storageOnline();
          refreshInBackground(c, part.name);
        }
      },
      offline: async (part, reason) => {
        await partOffline(c, part, reason);
        if (part.kind === 'agent') await scheduler.agentOffline(part.name);
      },
      heartbeat: (part, rtt) => partHeartbeat(c, part, rtt),
      // runs belong to agents: a storage server of the same name can never speak for one
      handlers: {
        snapshotCreated: async (part, params) => snapshotCreated(c, agentOnly(part), params),
        snapshotIndex: async (part, params) => snapshotIndex(c, agentOnly(part), params),
        renewGrant: async (part, params) => scheduler.renewGrant(agentOnly(part).name, Number((params as { run?: unknown })?.run)),
        runEnded: async (part, params) => scheduler.runEnded(agentOnly(part).name, params),
        snapshotFound: async (part, params) => rebuilds.snapshotFound(agentOnly(part), params),
        rebuildIndex: async (part, params) => rebuilds.index(agentOnly(part), params),
        rebuildGrant: async (part, params) => rebuilds.renewGrant(agentOnly(part), params),
        renewCertificate: async (part, params) => {
          const p = checkBody<RenewCertificateParams>(renewCertificateSchema, params);
          return renewPartCertificate(c, part, p.csr);
        },
      },
      event: (part, frame) => {
        // only the agent running the run (or the storage server collecting a gc) may move its counters or add to its log
        const allowed = part.kind === 'agent' ? scheduler.isRunningOn(frame.run, part.name) : scheduler.isGcOn(frame.run, part.name);
        if (!allowed) return;
        if (frame.kind === 'progress') setProgress(c, frame.run, frame.data);
        else if (frame.kind === 'log') partLog.add(frame.run, `${part.kind}:${part.name}`, frame.data);
      },
    }, { log, heartbeatMs: testDuration('HEARTBEAT', HEARTBEAT_MS) }); // refused dials and failed hooks must reach the operator's log, not vanish
    const partLog = new PartLog(c);
    const scheduler = new Scheduler(c, partLog);
    const rebuilds = new Rebuilds(c);
    late.scheduler = scheduler;
    // listening before the scheduler loads, so the runs it ends at start-up raise their alerts
    const alerts = new AlertCenter(c);
    await alerts.start();
    // before any part can connect: the runs a previous process left running wait for their agents
    await scheduler.load();
    await c.net.start();

    // bound before the API: a taken port fails the start with nothing served yet; prom-client is
    // loaded only by a server that serves metrics
    const metrics = options.metricsListen !== undefined ? (await import('./metrics.ts')).serverMetrics(c) : undefined;
    if (metrics) metricsEndpoint = await (await import('../core/metrics-endpoint.ts')).serveMetrics(options.metricsListen!, metrics.registry);
    // the web console, built first when missing or older than src/web/ (a build that fails fails the start)
    await ensureConsoleBuilt(log);
    const webConsole = consoleFiles(CONSOLE_DIST);
    const routes = apiRoutes(c, { scheduler, rebuilds, alerts });
    const router = new Router(
      routes,
      {
        authenticate: (bearer) => c.accounts.authenticate(bearer),
        allows: (caller, access) => allows(caller.role as Role, access),
        audit: (entry) => audit(db!, entry),
        finishAudit: (id, result, who) => finishAudit(db!, id, result, who),
        ...(metrics ? { observe: metrics.observeApi } : {}),
      },
      log,
    );
    server.on('request', (req, res) => {
      if ((req.url ?? '/').startsWith('/api/')) {
        void router.handle(req, res);
        return;
      }
      webConsole(req, res);
    });
    // Listen only now: every handler is in place, so no early request hangs unanswered.
    const address = await new Promise<AddressInfo>((res, rej) => {
      server.once('error', (e: NodeJS.ErrnoException) => rej(new CairnError('E_UNAVAILABLE', `cannot listen on ${listen}: ${e.code ?? e.message}`)));
      server.listen(port, host, () => res(server.address() as AddressInfo));
    });
    const url = localUrl(host, address.port);
    // what tokens and the web page name: --advertise, or an address other machines can reach
    c.url = reachableUrl(host, address.port, advertise);
    // the bound port is remembered, so parts enrolled against this URL find the server after a restart
    const { advertise: _saved, web: _savedWeb, ...kept } = files.settings;
    await saveSettings(dataDir, { ...kept, listen: formatListen(host, address.port), limits: c.limits, ...(advertise ? { advertise } : {}), ...(webFiles ? { web: webFiles } : {}) });
    scheduler.start();
    const figures = startFiguresRefresh(c);
    // the server's own leaf: renewed at two thirds of its life, served to new connections at once
    let identity = files.identity;
    const leafChecks = startRenewalChecks(async () => {
      const renewed = await renewServerLeaf(dataDir, files.ca, identity, files.settings.tlsHosts ?? []);
      if (!renewed) return;
      identity = renewed;
      // written once renewed: the check cannot know before whether the leaf is due
      await auditScheduler(db!, 'certificate.renew', 'part=server', "renewed the server's TLS certificate");
      server.setSecureContext(tls.renew(identity));
      log(`renewed the server's TLS certificate (expires ${new Date(certValidity(identity.certPem).expiresAt).toISOString()})`);
    }, log);
    log(`backup server listening on ${url}${c.url !== url ? `, reached as ${c.url}` : ''}`);
    if (web) log(`API and web console served with the site certificate ${web.files.cert} (${web.subject}, expires ${new Date(web.expiresAt).toISOString()}); parts keep the pinned CA`);

    let stopping: Promise<void> | undefined;
    const catalog = db;
    const endpoint = metricsEndpoint;
    return {
      url,
      caFingerprint: files.caFingerprint,
      caPem: files.ca.certPem,
      dataDir,
      ...(endpoint ? { metricsUrl: endpoint.url } : {}),
      local: {
        apiToken: async (user, current) => {
          const caller = await c.accounts.userByName(user);
          if (!caller) throw new CairnError('E_NOT_FOUND', `no user named ${user}`);
          return c.accounts.keepApiToken(caller, 'cairn up', current, { ttlMs: TOKEN_TTL.api.default * 1000, renewBeforeMs: UP_TOKEN_RENEW_MS });
        },
        storageGcSchedule: async (name, cron) => {
          await c.db.run('UPDATE storages SET gc_schedule = ?, gc_checked_at = ? WHERE name = ? AND removed_at IS NULL AND gc_schedule IS NULL', [cron, now(), name]);
        },
        partToken: async (kind, user) => {
          const caller = await c.accounts.userByName(user);
          if (!caller) throw new CairnError('E_NOT_FOUND', `no user named ${user}`);
          return createPartToken(c, caller, kind);
        },
      },
      stop: () => {
        stopping ??= (async () => {
          // runs in progress stay running: their agents re-attach them to the next process
          // no new connections from here: a console is refused at once and retries against the next process
          const httpClosed = new Promise<void>((res) => server.close(() => res()));
          server.closeIdleConnections();
          // a step that holds the stop up is named in the log (open connections are still answered "shutting down" meanwhile)
          const step = async (what: string, work: () => Promise<void> | void) => {
            const started = performance.now();
            await work();
            const ms = performance.now() - started;
            if (ms > SLOW_STOP_STEP_MS) log(`stopping: ${what} took ${Math.round(ms)} ms`);
          };
          await step('alerts', () => alerts.close()); // first: parts going offline at shutdown are no outage
          await step('leaf checks', () => leafChecks.stop());
          figures.stop();
          await step('scheduler', () => scheduler.close());
          events.close();
          await step('control hub', () => c.hub.close());
          await step('net monitor', () => c.net.close());
          await step('catalog rebuilds', () => rebuilds.drain());
          // every accepted socket, also one still in its TLS handshake (closeAllConnections would miss it)
          openSockets.destroyAll();
          await step('open connections', () => httpClosed);
          await endpoint?.close();
          await catalog.close();
          await unlock();
        })();
        return stopping;
      },
    };
  } catch (e) {
    await metricsEndpoint?.close();
    await db?.close();
    await unlock();
    throw e;
  }
}

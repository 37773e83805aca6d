// `cairn agent start`: the agent daemon. Takes the data folder's lock, enrolls the first time
// (a fresh P-256 key for wrapped vault keys, a certificate for `cairn-agent:NAME`), then keeps
// the control channel to the backup server and serves its calls: `backup` and `restore` run with
// the data path (run-backup.ts, run-restore.ts), `verify` checks a snapshot (run-verify.ts); each
// is answered {accepted: true} at once and its outcome sent as `runEnded` (run-tracker.ts), and it
// outlives a dropped link. `estimate` walks and stores nothing (run-estimate.ts) and `rebuild`
// (run-rebuild.ts) answer in their reply; `cancel {run}` aborts a running run. Params are
// checked at the boundary; a malformed call is answered E_BAD_REQUEST and nothing runs.
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { agentKeyFingerprint, generateAgentKeyPair } from '../core/agent-keys.ts';
import { lockDataDir } from '../core/data-dir-lock.ts';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { checkBody, type Schema } from '../protocol/api-schema.ts';
import type { CancelParams, StorageRef } from '../protocol/control.ts';
import {
  type AgentSecrets,
  type AgentSettings,
  checkAgentSettings,
  readAgentSecrets,
  readAgentSettings,
  saveAgentSettings,
  writeEnrollment,
} from './agent-settings.ts';
import { applyNice, checkNice } from './priority.ts';
import { needsReenroll, reenrollAgent, startAgentRenewal } from './agent-certs.ts';
import { removeStaleSpools } from './index-spool.ts';
import { IdleMemory } from './idle-memory.ts';
import { checkBackupParams, runBackup, runIdSchema } from './run-backup.ts';
import { canceledError, type RunContext } from './run-context.ts';
import { RunTracker } from './run-tracker.ts';
import { callAcrossDrops } from './server-call.ts';
import { checkEstimateParams, runEstimate } from './run-estimate.ts';
import { checkRestoreParams, runRestore } from './run-restore.ts';
import { checkVerifyParams, runVerify } from './run-verify.ts';
import { checkRebuildParams, runRebuild } from './run-rebuild.ts';
import { StorageClient } from './storage-client.ts';
import type { MetricsEndpoint } from '../core/metrics-endpoint.ts';
import { checkNetTestParams, runNetTest } from './run-nettest.ts';
import { VaultCheckPins } from './vault-check-pins.ts';
import { metered, TransferMeter } from './transfer-meter.ts';

export const AGENT_VERSION = '0.1.0';

export type StartAgentOptions = {
  dataDir: string;
  /** the backup server's URL; by default the one in the enrollment token, then the saved one */
  server?: string;
  /** enrollment token (first start only) */
  token?: string;
  name?: string;
  /** replaces the saved restore roots when given */
  restoreRoots?: string[];
  /** CPU priority (-20..19), applied to every thread and saved; default the saved one */
  nice?: number;
  version?: string;
  /** stderr lines (connection state, run failures) */
  log?: (line: string) => void;
  /** worker threads per run (tests); default one per CPU */
  workers?: number;
  /** HOST:PORT to serve GET /metrics on, plain HTTP (not saved: a start without it serves none) */
  metricsListen?: string;
};

export type RunningAgent = {
  name: string;
  server: string;
  /** true when this start enrolled the agent */
  enrolled: boolean;
  dataDir: string;
  restoreRoots: string[];
  /** the nice value applied at this start (undefined: none set) */
  nice?: number;
  /** SHA-256 of agent-key.pem's public key (SPKI DER), hex: what a console pins (docs/security.md) */
  keyFingerprint: string;
  /** where GET /metrics is served (with metricsListen) */
  metricsUrl?: string;
  /** runs executing (their run ids; catalog rebuilds are not runs) */
  running: () => number[];
  /** resolves with a sentence when the server says an administrator removed this agent (never otherwise) */
  removed: Promise<string>;
  /** cancels running runs, closes the control channel, releases the lock */
  stop: () => Promise<void>;
};

const cancelSchema: Schema = { type: 'object', properties: { run: runIdSchema }, required: ['run'] };

function usage(message: string): CairnError {
  return new CairnError('E_USAGE', `agent start: ${message}`);
}

/** Settings and secrets for this start: the saved ones, or new ones from enrollment. */
async function setup(dataDir: string, o: StartAgentOptions, log: (line: string) => void) {
  const saved = await readAgentSettings(dataDir);
  const roots = o.restoreRoots?.map((r) => path.resolve(r));
  const nice = o.nice === undefined ? undefined : checkNice(o.nice, (why) => usage(why));
  if (saved) {
    if (o.name !== undefined && o.name !== saved.name)
      throw usage(`this data folder is enrolled as ${saved.name}; --name cannot rename it`);
    const keptNice = nice ?? saved.nice;
    const settings: AgentSettings = {
      name: saved.name,
      server: o.server ?? saved.server,
      restoreRoots: roots ?? saved.restoreRoots,
      ...(keptNice === undefined ? {} : { nice: keptNice }),
    };
    if (JSON.stringify(settings) !== JSON.stringify(saved)) await saveAgentSettings(dataDir, settings);
    const secrets = await readAgentSecrets(dataDir);
    // a certificate that expired while the agent was offline: the token re-enrolls this same agent
    if (o.token !== undefined && needsReenroll(secrets)) {
      const renewed = await reenrollAgent(dataDir, { token: o.token, version: o.version ?? AGENT_VERSION, server: o.server }, settings, secrets);
      log(`re-enrolled as ${saved.name} with ${settings.server} (its certificate had expired)`);
      return { settings, secrets: renewed, enrolled: true };
    }
    if (o.token !== undefined) log(`already enrolled as ${saved.name} with ${saved.server}; token not used`);
    return { settings, secrets, enrolled: false };
  }
  if (o.token === undefined) throw usage('--token T (or CAIRN_TOKEN) and --name NAME are required the first time');
  if (o.name === undefined) throw usage('--name NAME is required the first time');
  const { enrollPart } = await import('../protocol/enroll-client.ts');
  const agentKey = generateAgentKeyPair();
  const enrolled = await enrollPart({
    token: o.token,
    kind: 'agent',
    name: o.name,
    publicKeyPem: agentKey.publicKeyPem,
    version: o.version ?? AGENT_VERSION,
    server: o.server,
  });
  const settings = checkAgentSettings(
    { name: o.name, server: o.server ?? enrolled.server, restoreRoots: roots ?? [], nice },
    (why) => usage(why),
  );
  const secrets: AgentSecrets = {
    identity: { keyPem: enrolled.keyPem, certPem: enrolled.certPem },
    caPem: enrolled.caPem,
    agentKeyPem: agentKey.privateKeyPem,
  };
  await writeEnrollment(dataDir, secrets, settings);
  return { settings, secrets, enrolled: true };
}

export async function startAgent(o: StartAgentOptions): Promise<RunningAgent> {
  const dataDir = path.resolve(o.dataDir);
  const log = o.log ?? ((line: string) => process.stderr.write(`cairn agent: ${line}\n`));
  await mkdir(dataDir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fromSystemError(e, `creating ${dataDir}`);
  });
  const unlock = await lockDataDir(dataDir, 'agent');
  let metricsEndpoint: MetricsEndpoint | undefined;
  try {
    // bound first: a taken port fails the start before an enrollment spends the token; prom-client
    // is loaded only by an agent that serves metrics
    const metrics = o.metricsListen !== undefined ? new (await import('./metrics.ts')).AgentMetrics() : undefined;
    if (metrics) metricsEndpoint = await (await import('../core/metrics-endpoint.ts')).serveMetrics(o.metricsListen!, metrics.registry);
    const { settings, secrets, enrolled } = await setup(dataDir, o, log);
    // before any run starts its workers: they inherit it
    if (settings.nice !== undefined) applyNice(settings.nice);
    const tmpDir = path.join(dataDir, 'tmp');
    const checkPins = new VaultCheckPins(dataDir);
    removeStaleSpools(tmpDir);
    const { ControlClient } = await import('../protocol/control-client.ts');
    /** catalog rebuilds: answered by their call's reply, so given up when the link drops (keyed by rebuild id) */
    const rebuilds = new Map<number, { controller: AbortController; done: Promise<unknown> }>();

    const storageClient = (storage: StorageRef, grant: () => string, meter?: TransferMeter) =>
      new StorageClient({
        url: storage.url,
        ca: secrets.caPem,
        expect: { kind: 'storage', name: storage.name },
        identity: secrets.identity,
        grant,
        meter,
        ...(metrics ? { sent: (bytes: number) => metrics.sent(bytes) } : {}),
      });
    // `control` is made below; runs (and so these calls) only start once it is connected
    const context = (signal: AbortSignal, call: RunContext['call'], meter?: TransferMeter): RunContext => ({
      call,
      event: (run, kind, data) => {
        if (kind === 'progress') metrics?.progress(run, data);
        control.event(run, kind, data);
      },
      agentKeyPem: secrets.agentKeyPem,
      checkPins,
      storageClient: (storage, grant) => storageClient(storage, grant, meter),
      host: os.hostname(),
      tmpDir,
      signal,
      workers: o.workers,
      log,
    });
    /** the estimate in progress (one at a time) */
    let estimating: AbortController | undefined;
    /** a call that fails when the link drops (estimate, rebuild: their answer goes back on that link) */
    const callOnLink: RunContext['call'] = (method, params) => control.call(method, params);
    /** a run's context: its calls wait out a dropped link (server-call.ts) */
    const runContext = (signal: AbortSignal, meter?: TransferMeter): RunContext => context(signal, callAcrossDrops(control, { signal, log }), meter);

    const idle = new IdleMemory(() => runs.running().length);
    const runs: RunTracker = new RunTracker({
      report: (end): Promise<unknown> => control.call('runEnded', end),
      online: () => control.connected,
      log,
      ended: (what, ms, end) => {
        metrics?.ended(what, ms, end);
        idle.runEnded();
      },
    });
    metrics?.countRunning(() => runs.running().length);

    let onRemoved!: (detail: string) => void;
    const removed = new Promise<string>((resolve) => (onRemoved = resolve));
    const control = new ControlClient({
      server: settings.server,
      caPem: secrets.caPem,
      identity: secrets.identity,
      self: { kind: 'agent', name: settings.name },
      hello: () => ({ version: o.version ?? AGENT_VERSION, address: os.hostname(), runs: runs.unfinished() }),
      // backup, restore and verify are answered {accepted: true} at once; the outcome follows as runEnded (run-tracker.ts)
      handlers: {
        backup: async (params) => {
          const p = checkBackupParams(params);
          return runs.start(p.run, 'backup', (signal) => metered((meter) => runBackup(p, runContext(signal, meter)), 'sent'));
        },
        restore: async (params) => {
          const p = checkRestoreParams(params);
          return runs.start(p.run, 'restore', (signal) => metered((meter) => runRestore(p, { ...runContext(signal, meter), restoreRoots: settings.restoreRoots }), 'received'));
        },
        verify: async (params) => {
          const p = checkVerifyParams(params);
          return runs.start(p.run, 'verify', (signal) => runVerify(p, runContext(signal)));
        },
        rebuild: async (params) => {
          const p = checkRebuildParams(params);
          if (rebuilds.has(p.rebuild)) throw new CairnError('E_CONFLICT', `rebuild ${p.rebuild} is already running on this agent`);
          const controller = new AbortController();
          const done = runRebuild(p, context(controller.signal, callOnLink)).catch((e: unknown) => {
            if (controller.signal.aborted) throw controller.signal.reason;
            log(`catalog rebuild ${p.rebuild} failed: ${(e as Error).message}`);
            throw e;
          });
          rebuilds.set(p.rebuild, { controller, done: done.catch(() => undefined) });
          try {
            return await done;
          } finally {
            rebuilds.delete(p.rebuild);
          }
        },
        // stores nothing and is no run; one at a time, and `cancelEstimate` stops it (its caller went away)
        estimate: async (params) => {
          const p = checkEstimateParams(params);
          if (estimating) throw new CairnError('E_CONFLICT', `an estimate is already running on agent ${settings.name}`);
          const controller = new AbortController();
          estimating = controller;
          try {
            return await runEstimate(p, context(controller.signal, callOnLink));
          } finally {
            if (estimating === controller) estimating = undefined;
          }
        },
        cancelEstimate: async () => {
          const canceled = estimating !== undefined;
          if (canceled) log('estimate canceled: the console that asked went away');
          estimating?.abort(canceledError());
          estimating = undefined; // the slot is free now: the walk stops at its next step
          return { canceled };
        },
        // answered in its reply, like an estimate: bytes to a discard route, nothing stored
        nettest: async (params) => {
          const p = checkNetTestParams(params);
          const client = storageClient(p.storage, () => p.grant);
          try {
            return await runNetTest(p, client);
          } finally {
            client.close();
          }
        },
        cancel: async (params) => {
          const { run } = checkBody<CancelParams>(cancelSchema, params);
          return { canceled: runs.abort(run, canceledError()) };
        },
      },
      // a run outlives the link (the server re-attaches from the hello's runs); a rebuild's answer
      // is its reply, which has nowhere to go once the link is gone, so the rebuild stops
      onState: (state, detail) => {
        if (state === 'online') return runs.flush();
        for (const [rebuild, { controller }] of rebuilds) {
          log(`catalog rebuild ${rebuild} abandoned: the link to the backup server dropped (${detail ?? 'closed'})`);
          controller.abort(new CairnError('E_UNAVAILABLE', 'the link to the backup server dropped during the rebuild'));
        }
      },
      onRemoved,
      log,
    });
    control.start();
    // new connections (the control channel's next dial, new runs' storage clients) take a renewed certificate
    const renewals = await startAgentRenewal({
      dataDir,
      settings,
      secrets,
      control,
      log,
      apply: (identity) => {
        secrets.identity = identity;
        control.setIdentity(identity);
      },
    });

    let stopping: Promise<void> | undefined;
    const endpoint = metricsEndpoint;
    return {
      name: settings.name,
      server: settings.server,
      enrolled,
      dataDir,
      restoreRoots: settings.restoreRoots,
      nice: settings.nice,
      keyFingerprint: agentKeyFingerprint(secrets.agentKeyPem),
      ...(metricsEndpoint ? { metricsUrl: metricsEndpoint.url } : {}),
      running: () => runs.running(),
      removed,
      stop: () => {
        stopping ??= (async () => {
          for (const r of rebuilds.values()) r.controller.abort(canceledError());
          // runs are aborted unreported: the server sees them missing from the next hello and fails them as lost
          await Promise.all([runs.stop(canceledError()), ...[...rebuilds.values()].map((r) => r.done)]);
          idle.stop();
          await renewals.stop();
          await control.close();
          await endpoint?.close();
          await unlock();
        })();
        return stopping;
      },
    };
  } catch (e) {
    await metricsEndpoint?.close();
    await unlock();
    throw e;
  }
}

// A part's end of the control channel (docs/control-plane.md "Control channel"): it dials
// wss://SERVER/api/control with its certificate, says hello, serves the server's calls, sends
// calls and events of its own, and keeps the link up: when the server's pings stop it gives the
// link up, and every lost or refused link is redialled with back-off for as long as the part runs.
import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { CairnError } from '../core/errors.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import { partTlsOptions, type TlsIdentity } from '../core/tls.ts';
import { CONTROL_PATH, HEARTBEAT_MISSES, HEARTBEAT_MS, MAX_FRAME_BYTES, parseFrame } from './control.ts';
import { ControlRpc, ownHandler } from './control-rpc.ts';

export type ControlClientOptions = {
  server: string;
  caPem: string;
  identity: TlsIdentity;
  self: PartIdentity;
  /** the hello frame's fields, asked for on every dial (an agent names its runs: control.ts HelloFrame) */
  hello: () => { version: string; address: string; runs?: number[] };
  /** server → part calls; a thrown CairnError becomes {error:{code,message}} in the reply */
  handlers: Record<string, (params: unknown) => Promise<unknown>>;
  /** 'online' is reported once the server welcomed this part: calls made from it go out right after the welcome */
  onState?: (state: 'online' | 'offline', detail?: string) => void;
  /** the server answered that an administrator removed this part: the client stops dialling, the part should stop */
  onRemoved?: (detail: string) => void;
  log?: (line: string) => void;
  /** the server's ping period (tests shorten it) */
  heartbeatMs?: number;
  /** first and longest redial delay (tests shorten them) */
  backoffMs?: { min: number; max: number };
};

const SERVER_IDENTITY: PartIdentity = { kind: 'server', name: 'server' };
const HANDSHAKE_TIMEOUT_MS = 15_000;

export class ControlClient {
  readonly #o: ControlClientOptions;
  readonly #url: string;
  readonly #heartbeatMs: number;
  readonly #backoff: { min: number; max: number };
  /** presented on the next dial (a renewed certificate replaces it: setIdentity) */
  #identity: TlsIdentity;
  #ws: WebSocket | undefined;
  #rpc: ControlRpc | undefined;
  #welcomed = false;
  #stopped = false;
  /** failed dials since the last welcome: the next redial waits min·2^failures */
  #failures = 0;
  #redialTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  /** last state reported, so a link that keeps failing the same way is reported once */
  #reported = '';
  /** waitConnected() callers, told at the next welcome or at close */
  readonly #waiters = new Set<(connected: boolean) => void>();

  constructor(o: ControlClientOptions) {
    this.#o = o;
    this.#identity = o.identity;
    const url = new URL(CONTROL_PATH, o.server);
    if (url.protocol !== 'https:') throw new CairnError('E_BAD_REQUEST', `server must be an https URL, not ${o.server}`);
    url.protocol = 'wss:';
    this.#url = url.toString();
    this.#heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
    this.#backoff = o.backoffMs ?? { min: 500, max: 30_000 };
  }

  start(): void {
    if (this.#stopped || this.#ws || this.#redialTimer) return;
    this.#dial();
  }

  /** The next dial presents `identity` (a renewed certificate); the current link is kept as it is. */
  setIdentity(identity: TlsIdentity): void {
    this.#identity = identity;
    // a link refused for the old certificate waits for the slowest redial: try the new one now
    if (this.#redialTimer !== undefined && !this.#stopped) {
      clearTimeout(this.#redialTimer);
      this.#dial();
    }
  }

  /** True once the server welcomed this part on the current link, until that link starts closing. */
  get connected(): boolean {
    return this.#welcomed && this.#ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Resolves true once the part is connected (at once when it is), false when `timeoutMs` pass
   * first or the client is closed; rejects with the signal's reason when `signal` aborts first.
   */
  waitConnected(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    if (this.#stopped) return Promise.resolve(false);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.#waiters.delete(done);
      };
      const done = (connected: boolean) => {
        settle();
        resolve(connected);
      };
      const aborted = () => {
        settle();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      signal?.addEventListener('abort', aborted, { once: true });
      this.#waiters.add(done);
    });
  }

  call(method: string, params: unknown, timeoutMs?: number): Promise<unknown> {
    if (!this.connected || !this.#rpc) return Promise.reject(new CairnError('E_UNAVAILABLE', 'not connected to the backup server'));
    return this.#rpc.call(method, params, timeoutMs);
  }

  /** Sends a progress or log event of a run; dropped when offline (the run's end is kept and sent: agent/run-tracker.ts). */
  event(run: number, kind: 'progress' | 'log', data: unknown): void {
    if (this.connected) this.#rpc?.event(run, kind, data);
  }

  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#redialTimer);
    this.#redialTimer = undefined;
    for (const waiter of [...this.#waiters]) waiter(false);
    const ws = this.#ws;
    if (!ws) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === WebSocket.OPEN) {
      ws.close(1001, 'part shutting down');
      // a server that does not answer the closing handshake is not waited for
      const force = setTimeout(() => ws.terminate(), 2000);
      await closed;
      clearTimeout(force);
    } else {
      ws.terminate();
      await closed;
    }
  }

  #dial(): void {
    this.#redialTimer = undefined;
    const tls = partTlsOptions({ ca: this.#o.caPem, expect: SERVER_IDENTITY, identity: this.#identity });
    const ws = new WebSocket(this.#url, {
      ...(tls as WebSocket.ClientOptions),
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      followRedirects: false,
    });
    this.#ws = ws;
    let detail = '';
    let refused = false;
    let removed = false;
    const rpc = new ControlRpc(ws, {
      handle: (method, params) => ownHandler(this.#o.handlers, method)(params),
      log: this.#log,
    });
    this.#rpc = rpc;

    ws.on('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
      // 401/403: this part's certificate is unknown or replaced; the operator fixes that, we keep asking slowly.
      // 410: an administrator removed this part; a part that says so (onRemoved) stops
      removed = res.statusCode === 410;
      refused = res.statusCode === 401 || res.statusCode === 403 || removed;
      detail = removed
        ? `${this.#o.self.kind} ${this.#o.self.name} was removed from the backup server at ${this.#o.server} by an administrator`
        : refused
        ? `the server refused this part's certificate (HTTP ${res.statusCode}): not enrolled there, or enrolled again with another certificate?`
        : `the server answered HTTP ${res.statusCode} instead of opening the control channel`;
      res.resume();
      ws.terminate();
    });
    // the server pings every heartbeat; when several in a row are missing the link is dead, whatever TCP thinks
    const armWatchdog = () => {
      clearTimeout(this.#watchdog);
      this.#watchdog = setTimeout(() => {
        detail = `no heartbeat from the server for ${this.#heartbeatMs * HEARTBEAT_MISSES} ms`;
        ws.terminate();
      }, this.#heartbeatMs * HEARTBEAT_MISSES);
    };
    ws.on('open', () => {
      armWatchdog();
      try {
        const hello = this.#o.hello();
        rpc.send({ t: 'hello', version: hello.version, address: hello.address, ...(hello.runs && { runs: hello.runs }) });
      } catch (e) {
        detail = `hello not sent: ${(e as Error).message}`;
        ws.close(1011, 'hello failed');
      }
    });
    ws.on('ping', armWatchdog); // ws answers the pong itself
    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.close(1003, 'text frames only');
      let frame;
      try {
        frame = parseFrame(data.toString());
      } catch (e) {
        detail = (e as Error).message;
        return ws.close(1008, detail.slice(0, 120));
      }
      if (!this.#welcomed) {
        if (frame.t !== 'welcome') {
          detail = `server sent ${frame.t} before welcome`;
          return ws.close(1008, detail);
        }
        this.#welcomed = true;
        this.#failures = 0;
        // welcomed before anyone hears of it: what 'online' and the waiters send goes out after the welcome
        this.#report('online', `connected to ${this.#o.server}`);
        for (const waiter of [...this.#waiters]) waiter(true);
        return;
      }
      if (frame.t === 'hello' || frame.t === 'welcome') {
        detail = `server sent ${frame.t} twice`;
        return ws.close(1008, detail);
      }
      rpc.receive(frame);
    });
    ws.on('error', (e) => {
      if (!detail) detail = e.message;
    });
    ws.on('close', (code, reason) => {
      clearTimeout(this.#watchdog);
      if (!detail) detail = reason.length > 0 ? reason.toString() : `link closed (${code})`;
      rpc.failAll(new CairnError('E_UNAVAILABLE', `link to the backup server dropped: ${detail}`));
      this.#welcomed = false;
      this.#ws = undefined;
      this.#rpc = undefined;
      if (this.#stopped) return this.#report('offline', 'closed');
      // redialling would be refused forever: stop, and let the part say so (once) and end
      if (removed && this.#o.onRemoved) {
        this.#stopped = true;
        this.#o.onState?.('offline', detail);
        for (const waiter of [...this.#waiters]) waiter(false);
        return this.#o.onRemoved(detail);
      }
      this.#report('offline', detail);
      this.#scheduleRedial(refused);
    });
  }

  #scheduleRedial(refused: boolean): void {
    // a refused certificate will not be accepted a second later: go straight to the slowest pace
    const step = refused ? Number.POSITIVE_INFINITY : this.#failures;
    this.#failures++;
    const base = Math.min(this.#backoff.max, this.#backoff.min * 2 ** step);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5)); // jitter keeps parts from redialling in step
    this.#redialTimer = setTimeout(() => this.#dial(), delay);
  }

  #report(state: 'online' | 'offline', detail: string): void {
    const key = `${state} ${detail}`;
    if (key === this.#reported) return;
    this.#reported = key;
    this.#log(`control: ${state}: ${detail}`);
    this.#o.onState?.(state, detail);
  }

  readonly #log = (line: string): void => {
    this.#o.log?.(line);
  };
}

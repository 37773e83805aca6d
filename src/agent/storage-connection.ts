// The connection half of the agent's storage client: one keep-alive HTTPS agent (TLS 1.3, trust
// pinned to the server's CA or certificate fingerprint; with a backup server, mutual TLS and the
// storage server's part name checked, and the run's grant on every request), request bodies
// streamed from buffers with back-pressure (paced for --bwlimit), one retry of a reset, and
// server failures turned into CairnError with the server's code. Every request has an idle
// timeout (dataIdleMs, 60 s): a request with no byte either way for that long fails
// E_UNAVAILABLE, while a slow one that keeps moving (a throttled upload) lives on. A paused
// reader counts as idle too: a caller must not leave a response unread for that long.
// The data-plane calls themselves are StorageClient's (storage-client.ts).
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent, type RequestOptions, request } from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { CairnError, ERROR_CODES, type ErrorCode, isCairnError } from '../core/errors.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import { clientTlsOptions, fetchPinnedCertificate, partTlsOptions, type TlsIdentity } from '../core/tls.ts';
import type { TransferMeter } from './transfer-meter.ts';
import { dataIdleMs, idleText, LIMITS, parseErrorBody } from '../protocol/data-plane.ts';

export type StorageClientOptions = {
  url: string;
  /** PEM of the CA (or self-signed certificate) to trust */
  ca?: string;
  /** hex SHA-256 of the server certificate's DER; alone, the certificate is fetched and pinned */
  fingerprint?: string;
  /** the part the server must be (its certificate's name) instead of a fingerprint or host check; needs `ca` */
  expect?: PartIdentity;
  /** this agent's certificate and key, presented to a storage server that asks for one */
  identity?: TlsIdentity;
  /** standalone mode: the storage server's access key… */
  accessKey?: string;
  /** …or server mode: the current grant of the run, asked for on every request (it is renewed) */
  grant?: () => string;
  maxSockets?: number;
  /** told the length of each request body once all of it was handed to the connection (the agent's bytes-sent metric) */
  sent?: (bytes: number) => void;
  /** counts what this client's requests move and how long they are in flight (a run's throughput) */
  meter?: TransferMeter;
};

/** StorageClientOptions as a worker thread gets them: `grant` says whether tasks carry one. */
export type WorkerClientOptions = Pick<StorageClientOptions, 'url' | 'ca' | 'fingerprint' | 'expect' | 'identity' | 'accessKey'> & {
  grant: boolean;
};


/** The header the grant goes in (storage/authorize.ts reads it). */
const GRANT_HEADER = 'cairn-grant';

/**
 * A body goes to the socket at most this much per write: TLS encrypts all of a write into its
 * output buffer at once, so one write of a pack's run of sealed blobs (megabytes, seal-ring.ts)
 * made that much fresh memory per connection (docs/performance.md, "tenth part").
 */
const WRITE_SLICE = 256 * 1024;

/** `buffers` may be a one-shot generator (a streamed snapshot's refs): then send it with retry: false. */
type Body = { buffers: Iterable<Buffer>; length: number };
/**
 * Paces an upload's body (a run's --bwlimit, backup/rate-limiter.ts): the body goes out in slices
 * of at most `sliceBytes`, each once `take` resolves; a rejected take ends the request with its reason.
 */
export type UploadPace = { readonly sliceBytes: number; take(bytes: number): Promise<void> };
type SendOptions = { body?: Body; headers?: Record<string, string>; expectContinue?: boolean; retry?: boolean; pace?: UploadPace };

/** A connection lost under a request (often a kept one the server closed as we reused it): asked once more. */
export const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const TLS_TRUST_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME|HOSTNAME/;

/**
 * What a connection's failure to server `label` means: an untrusted certificate E_UNAUTHORIZED,
 * anything else E_UNAVAILABLE naming the server, except a reset, returned as it is for the
 * caller to ask again (RESET_CODES) or word itself.
 */
export function connectionError(e: NodeJS.ErrnoException, label: string): Error {
  if (isCairnError(e, 'E_UNAVAILABLE')) return e; // the idle timeout, already worded
  const code = e.code ?? '';
  if (TLS_TRUST_CODES.test(code) || e instanceof CairnError)
    return new CairnError('E_UNAUTHORIZED', `storage server ${label}: certificate not trusted (${e.message})`, {
      cause: e,
    });
  if (RESET_CODES.has(code)) return e;
  return new CairnError('E_UNAVAILABLE', `storage server ${label}: ${e.message}`, { cause: e });
}

/** The whole body of an answer (at most `max` bytes); a connection lost on the way names the server. */
export async function readAll(res: IncomingMessage, max: number, label: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > max) {
        res.destroy();
        throw new CairnError('E_TOO_LARGE', `storage server ${label}: answer larger than ${max} bytes`);
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof CairnError) throw e;
    throw new CairnError('E_UNAVAILABLE', `storage server ${label}: answer cut off (${(e as Error).message})`, { cause: e });
  }
  return Buffer.concat(chunks, size);
}

/**
 * An error answer to a request whose body was never started (refused before 100 Continue), its
 * body lost (seen once under load: the connection closed before the error's JSON was read).
 */
class LostRefusal extends Error {
  readonly error: CairnError;
  constructor(error: CairnError) {
    super(error.message);
    this.error = error;
  }
}

function drained(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * The CairnError an error answer carries (`body`: its bytes, if they could be read); `reasoned`
 * false when the body was unreadable or not ours (the status alone).
 */
export function errorAnswer(status: number, body: Buffer | undefined): { error: CairnError; reasoned: boolean } {
  let parsed: { code: string; message: string } | undefined;
  try {
    parsed = body && parseErrorBody(JSON.parse(body.toString('utf8')));
  } catch {
    parsed = undefined; // not our JSON: report the status alone
  }
  if (parsed && isErrorCode(parsed.code)) return { error: new CairnError(parsed.code, parsed.message), reasoned: true };
  return { error: new CairnError(status >= 500 ? 'E_UNAVAILABLE' : 'E_BAD_REQUEST', `storage server answered ${status}`), reasoned: false };
}

/** The connection to one storage server; StorageClient (storage-client.ts) adds the data-plane calls. */
export class StorageConnection {
  readonly url: URL;
  readonly #options: StorageClientOptions;
  #agent: Promise<Agent> | undefined;
  #tls: Promise<ConnectionOptions> | undefined;

  constructor(options: StorageClientOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'https:') throw new CairnError('E_USAGE', `storage URL must be https: ${options.url}`);
    if (options.ca === undefined && options.fingerprint === undefined)
      throw new CairnError('E_USAGE', 'storage client needs the server CA or certificate fingerprint');
    if ((options.accessKey === undefined) === (options.grant === undefined))
      throw new CairnError('E_USAGE', 'storage client needs exactly one of an access key or a grant');
    if (options.expect !== undefined && (options.ca === undefined || options.fingerprint !== undefined))
      throw new CairnError('E_USAGE', 'storage client: checking the server part name needs the CA and no fingerprint');
    this.#options = options;
  }

  /** how failures name the server: its part name and address when it is a known part, else its address */
  get label(): string {
    const name = this.#options.expect?.name;
    return name === undefined ? this.url.host : `${name} (${this.url.host})`;
  }

  /** the server's host name or address (an IPv6 address without its brackets) */
  get host(): string {
    return this.url.hostname.replace(/^\[|\]$/g, '');
  }

  /** Who we are on every request: the run's grant (server mode) or the access key (standalone). */
  authHeaders(): Record<string, string> {
    const { grant, accessKey } = this.#options;
    return grant ? { [GRANT_HEADER]: grant() } : { authorization: `Bearer ${accessKey}` };
  }

  /** The TLS options of every connection to this server (the trust pinned, our identity presented). */
  tlsOptions(): Promise<ConnectionOptions> {
    this.#tls ??= (async () => {
      const { fingerprint, expect, identity } = this.#options;
      const ca =
        this.#options.ca ?? (await fetchPinnedCertificate(this.host, Number(this.url.port || 443), fingerprint!));
      return expect !== undefined
        ? partTlsOptions({ ca, expect, identity })
        : { ...clientTlsOptions({ ca, fingerprint }), ...(identity && { key: identity.keyPem, cert: identity.certPem }) };
    })();
    this.#tls.catch(() => {
      this.#tls = undefined; // let a later call try again
    });
    return this.#tls;
  }

  #getAgent(): Promise<Agent> {
    this.#agent ??= this.tlsOptions().then((tls) => new Agent({ keepAlive: true, maxSockets: this.#options.maxSockets ?? 8, ...tls }));
    this.#agent.catch(() => {
      this.#agent = undefined; // let a later call try again
    });
    return this.#agent;
  }

  close(): void {
    void this.#agent?.then((a) => a.destroy());
  }

  /**
   * What a worker thread needs to open connections of its own as this client (functions cannot
   * cross: the grant goes with each task, see grantNow; the meter stays here, see meterBegin).
   */
  workerOptions(): WorkerClientOptions {
    const { url, ca, fingerprint, expect, identity, accessKey } = this.#options;
    return { url, ca, fingerprint, expect, identity, accessKey, grant: this.#options.grant !== undefined };
  }

  /** The run's grant as of now (server mode), for a request a worker makes. */
  grantNow(): string | undefined {
    return this.#options.grant?.();
  }

  /** Counts a request a worker made for this client: call when it starts, the function when it ends. */
  meterBegin(): ((moved: { sent: number; received: number }) => void) | undefined {
    return this.#options.meter?.begin();
  }

  /** A request body a worker sent for this client (the agent's bytes-sent metric). */
  countSent(bytes: number): void {
    this.#options.sent?.(bytes);
  }

  /** One request; resolves with a 2xx response whose body the caller consumes. */
  protected async send(method: string, path: string, opts: SendOptions = {}): Promise<IncomingMessage> {
    let failure: unknown;
    try {
      return await this.#sendOnce(method, path, opts);
    } catch (e) {
      // refused before any of the body was sent, its reason lost with the connection: nothing was
      // done, so asking again is safe and gets the reason
      if (e instanceof LostRefusal) return await this.#sendOnce(method, path, opts).catch((again: unknown) => {
        throw again instanceof LostRefusal ? again.error : again;
      });
      if (!RESET_CODES.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      failure = e;
    }
    // A reset (often a keep-alive socket the server closed as we reused it): one more try.
    if (opts.retry !== false) {
      try {
        return await this.#sendOnce(method, path, opts);
      } catch (e) {
        if (!RESET_CODES.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
        failure = e;
      }
    }
    throw new CairnError('E_UNAVAILABLE', `storage server ${this.label}: ${(failure as Error).message}`, {
      cause: failure,
    });
  }

  async #sendOnce(method: string, path: string, opts: SendOptions): Promise<IncomingMessage> {
    const agent = await this.#getAgent();
    const metered = this.#options.meter?.begin();
    try {
      const res = await this.#request(method, path, opts, agent);
      // payload bytes: the body sent and the answer's declared length (every data-plane answer but a scrub's has one)
      if (metered) res.once('close', () => metered({ sent: opts.body?.length ?? 0, received: Number(res.headers['content-length'] ?? 0) || 0 }));
      return res;
    } catch (e) {
      metered?.({ sent: 0, received: 0 });
      throw e;
    }
  }

  async #request(method: string, path: string, opts: SendOptions, agent: Agent): Promise<IncomingMessage> {
    const headers: Record<string, string | number> = { ...this.authHeaders(), ...opts.headers };
    if (opts.body) {
      headers['content-length'] = opts.body.length;
      headers['content-type'] ??= 'application/octet-stream';
      if (opts.expectContinue) headers.expect = '100-continue';
    }
    const options: RequestOptions = { method, host: this.host, port: this.url.port || 443, path, headers, agent };
    let bodyStarted = false;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(options);
      let answered: IncomingMessage | undefined;
      let ended = false;
      // the socket's idle timer: any byte sent or received restarts it, through the whole answer
      const idleMs = dataIdleMs();
      req.setTimeout(idleMs, () => {
        const e = new CairnError('E_UNAVAILABLE', `storage server ${this.label}: ${method} ${path} timed out after ${idleText(idleMs)} without data`);
        if (answered && !answered.complete) answered.destroy(e); // the reader of the body sees it
        req.destroy(e);
      });
      req.once('response', (r) => {
        answered = r;
        // Answered before the whole body was sent (an early error): this connection cannot be reused.
        if (!ended) r.once('end', () => req.destroy());
        resolve(r);
      });
      let paceFailure: unknown;
      req.on('error', (e: NodeJS.ErrnoException) => reject(paceFailure ?? connectionError(e, this.label)));
      const write = async (buf: Buffer) => {
        for (let at = 0; at < buf.length; at += WRITE_SLICE) if (!req.write(buf.subarray(at, at + WRITE_SLICE))) await drained(req);
      };
      const writePaced = async (buf: Buffer, pace: UploadPace) => {
        for (let at = 0; at < buf.length && !answered && !req.destroyed; at += pace.sliceBytes) {
          const slice = buf.subarray(at, at + pace.sliceBytes);
          try {
            await pace.take(slice.length);
          } catch (e) {
            paceFailure = e; // a canceled run: its reason, not a connection error
            req.destroy();
            reject(e);
            return;
          }
          await write(slice);
        }
      };
      const writeBody = async () => {
        bodyStarted = true;
        let written = 0;
        for (const buf of opts.body?.buffers ?? []) {
          if (answered || req.destroyed) return; // the server answered early (an error): stop sending
          written += buf.length;
          await (opts.pace ? writePaced(buf, opts.pace) : write(buf));
        }
        if (answered || req.destroyed) return;
        if (opts.body && written !== opts.body.length) throw new CairnError('E_INTERNAL', `${method} ${path}: body of ${written} bytes, ${opts.body.length} announced`);
        ended = true;
        req.end();
        if (opts.body) this.#options.sent?.(opts.body.length);
      };
      // a body generator that fails (a spilled refs file unreadable) ends the request with its error
      const sendBody = () =>
        void writeBody().catch((e: unknown) => {
          req.destroy();
          reject(e);
        });
      if (opts.body && opts.expectContinue) req.once('continue', sendBody);
      else sendBody();
    });
    if ((res.statusCode ?? 500) < 300) return res;
    const { error, reasoned } = await this.#errorFrom(res);
    if (!reasoned && !bodyStarted && opts.body) throw new LostRefusal(error);
    throw error;
  }

  /** The server's error; `reasoned` false when its body was unreadable or not ours (the status alone). */
  async #errorFrom(res: IncomingMessage): Promise<{ error: CairnError; reasoned: boolean }> {
    const body = await readAll(res, LIMITS.jsonBytes, this.label).catch(() => undefined);
    return errorAnswer(res.statusCode ?? 500, body);
  }

  protected async json(method: string, path: string, value?: unknown): Promise<unknown> {
    const body = value === undefined ? undefined : Buffer.from(JSON.stringify(value));
    const res = await this.send(method, path, {
      body: body && { buffers: [body], length: body.length },
      headers: body ? { 'content-type': 'application/json' } : {},
      retry: method === 'GET',
    });
    const text = (await readAll(res, 64 * 1024 * 1024, this.label)).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      throw new CairnError('E_CORRUPT', `storage server sent malformed JSON for ${method} ${path}`);
    }
  }
}

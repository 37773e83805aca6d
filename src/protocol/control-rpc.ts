// Calls, replies and events over one control WebSocket, the same on both ends of the link: it
// numbers outgoing calls and matches their replies, runs incoming calls through the local
// handler and answers each with its result or its error as {code, message}, and rejects every
// pending call at once when the link goes. The handshake (hello/welcome), heartbeats and
// redialling belong to the two ends (control-client.ts, server/control-hub.ts).
import WebSocket from 'ws';
import { CairnError, ERROR_CODES, type ErrorCode } from '../core/errors.ts';
import { type CallFrame, type ErrorInfo, type EventFrame, type Frame, MAX_FRAME_BYTES, type ReplyFrame } from './control.ts';

/** Runs one incoming call; a thrown CairnError goes back to the caller with its code. */
export type CallHandler = (method: string, params: unknown) => Promise<unknown>;

type Pending = { method: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout };

/** Progress events are superseded by the next one, so a slow link sheds them past this backlog. */
const PROGRESS_BACKLOG_BYTES = 1024 * 1024;

/** The peer's {code, message} as a CairnError (an unknown code becomes E_INTERNAL). */
export function errorFromInfo(info: ErrorInfo): CairnError {
  const code: ErrorCode = Object.hasOwn(ERROR_CODES, info.code) ? (info.code as ErrorCode) : 'E_INTERNAL';
  return new CairnError(code, info.message);
}

export function errorToInfo(e: unknown): ErrorInfo {
  if (e instanceof CairnError) return { code: e.code, message: e.message };
  return { code: 'E_INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

/** Looks a handler up by its own name only, so 'constructor' or '__proto__' never reach Object's. */
export function ownHandler<H>(handlers: Record<string, H>, method: string): H {
  if (!Object.hasOwn(handlers, method)) throw new CairnError('E_NOT_FOUND', `unknown control method ${JSON.stringify(method).slice(0, 80)}`);
  return handlers[method]!;
}

export class ControlRpc {
  readonly #ws: WebSocket;
  readonly #handle: CallHandler;
  readonly #onEvent: (frame: EventFrame) => void;
  readonly #log: (line: string) => void;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  /** set once the link is gone: later calls fail at once with it */
  #gone: CairnError | undefined;

  constructor(
    ws: WebSocket,
    o: { handle: CallHandler; onEvent?: (frame: EventFrame) => void; log?: (line: string) => void },
  ) {
    this.#ws = ws;
    this.#handle = o.handle;
    this.#onEvent = o.onEvent ?? (() => {});
    this.#log = o.log ?? (() => {});
  }

  /** Sends one frame when the socket is open; returns false when it could not be sent. */
  send(frame: Frame): boolean {
    if (this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(serialize(frame));
    return true;
  }

  /** Calls `method` on the peer. Without `timeoutMs` it waits as long as the link lives (a backup can take hours). */
  call(method: string, params: unknown, timeoutMs?: number): Promise<unknown> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (this.#ws.readyState !== WebSocket.OPEN) return Promise.reject(new CairnError('E_UNAVAILABLE', 'control link is not open'));
    const id = this.#nextId++;
    let text: string;
    try {
      text = serialize({ t: 'call', id, method, params });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = { method, resolve, reject };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new CairnError('E_UNAVAILABLE', `control call ${method} got no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#pending.set(id, pending);
      this.#ws.send(text);
    });
  }

  event(run: number, kind: 'progress' | 'log', data: unknown): void {
    if (kind === 'progress' && this.#ws.bufferedAmount > PROGRESS_BACKLOG_BYTES) return;
    try {
      this.send({ t: 'event', run, kind, data });
    } catch (e) {
      this.#log(`control: event for run ${run} not sent: ${(e as Error).message}`);
    }
  }

  /** Acts on a received call, reply or event (the handshake frames are the caller's business). */
  receive(frame: CallFrame | ReplyFrame | EventFrame): void {
    switch (frame.t) {
      case 'call':
        void this.#answer(frame);
        return;
      case 'reply': {
        const pending = this.#pending.get(frame.id);
        if (!pending) return; // timed out already: the answer is no longer wanted
        this.#pending.delete(frame.id);
        clearTimeout(pending.timer);
        if (frame.error) pending.reject(errorFromInfo(frame.error));
        else pending.resolve(frame.result);
        return;
      }
      case 'event':
        try {
          this.#onEvent(frame);
        } catch (e) {
          this.#log(`control: event for run ${frame.run} failed: ${(e as Error).message}`);
        }
    }
  }

  /** The link is gone: every pending call and every later one fails with `error`. */
  failAll(error: CairnError): void {
    this.#gone ??= error;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  async #answer(frame: CallFrame): Promise<void> {
    let reply: ReplyFrame;
    try {
      reply = { t: 'reply', id: frame.id, result: await this.#handle(frame.method, frame.params) };
    } catch (e) {
      if (!(e instanceof CairnError)) this.#log(`control: ${frame.method} failed: ${(e as Error)?.stack ?? String(e)}`);
      reply = { t: 'reply', id: frame.id, error: errorToInfo(e) };
    }
    try {
      this.send(reply);
    } catch (e) {
      // the result could not be sent (too large, not JSON): the caller still gets an answer
      this.send({ t: 'reply', id: frame.id, error: errorToInfo(e) });
    }
  }
}

/** One frame as JSON text, refused when the peer would refuse it for its size. */
function serialize(frame: Frame): string {
  let text: string;
  try {
    text = JSON.stringify(frame);
  } catch (e) {
    throw new CairnError('E_INTERNAL', `control frame is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES)
    throw new CairnError('E_TOO_LARGE', `control frame of ${Buffer.byteLength(text)} bytes exceeds ${MAX_FRAME_BYTES}`);
  return text;
}

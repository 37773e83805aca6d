// The console event stream (GET /api/events): a Server-Sent Events hub. Each attached response
// stays open; `publish` writes `event: TYPE\ndata: JSON\n\n` to every client whose filter takes
// the event (the routes pass a filter that shows a user only what they may see). A comment line
// every 15 s keeps proxies and idle timers from closing quiet streams. A client that stops
// reading is dropped once its unsent backlog passes MAX_BACKLOG, so memory stays bounded.
// In-process listeners (`onPublish`, the alerts) see every event, and `signal`s no console sees.
// An event may name the user it belongs to (a run's job owner): the filter sees it, the client
// never does. A client that connects gets the `replay` events first (the last progress of each
// running run, the log lines it missed), so a late joiner does not wait for the next one. An event
// may carry an SSE `id` (a log line's number in its run), which a browser sends back as
// `Last-Event-ID` when it reconnects.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CairnError } from '../../core/errors.ts';

export const PING_INTERVAL_MS = 15_000;
const MAX_BACKLOG = 1024 * 1024;

/** Whether a client gets an event: its type, data, and the user it belongs to (null: no user's). */
export type EventFilter = (type: string, data: unknown, owner: number | null) => boolean;
export type StoredEvent = { type: string; data: unknown; owner: number | null; id?: string };

/** Who opened a stream: the user's id and its token's key (`tokenKey`), so either can end it. */
export type StreamOwner = { user: number; token?: string };
type Client = { res: ServerResponse; filter: EventFilter | undefined; owner: StreamOwner | undefined };
/** An in-process listener (alerts): sees every event published and every signal. */
export type EventListener = (type: string, data: unknown) => void;

export class EventHub {
  readonly #clients = new Set<Client>();
  readonly #listeners = new Set<EventListener>();
  #ping: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * Takes over the response: SSE headers, a ping every 15 s, the client removed when the connection
   * closes. `owner` names who opened it, so `end` can end it when the user is removed or the token
   * revoked or logged out.
   */
  attach(req: IncomingMessage, res: ServerResponse, filter?: EventFilter, replay: readonly StoredEvent[] = [], owner?: StreamOwner): void {
    if (this.#closed) throw new CairnError('E_UNAVAILABLE', 'the server is shutting down');
    const client: Client = { res, filter, owner };
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // tell a buffering reverse proxy to pass events at once
    });
    // A first comment sends the headers now, so the console knows the stream is open.
    res.write(': connected\n\n');
    for (const e of replay) if (filter === undefined || filter(e.type, e.data, e.owner)) res.write(frameOf(e.type, e.data, e.id));
    this.#clients.add(client);
    const remove = () => this.#remove(client);
    // the response's close, not the request's: a request closes once its (empty) body is read
    res.once('close', remove);
    res.once('error', remove);
    this.#ping ??= setInterval(() => this.#broadcast(': ping\n\n', () => true), PING_INTERVAL_MS).unref();
  }

  publish(type: string, data: unknown, owner: number | null = null, id?: string): void {
    const frame = frameOf(type, data, id);
    this.#broadcast(frame, (c) => c.filter === undefined || c.filter(type, data, owner));
    this.#tell(type, data);
  }

  /** An event for in-process listeners only, never sent to consoles (e.g. slots a schedule missed). */
  signal(type: string, data: unknown): void {
    this.#tell(type, data);
  }

  /** Calls `listener` for every event published or signalled; answers the function that stops it. */
  onPublish(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #tell(type: string, data: unknown): void {
    for (const l of this.#listeners) {
      try {
        l(type, data);
      } catch {
        // a listener's failure is its own business: the event still reached the consoles
      }
    }
  }

  /** Ends every stream and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#clients]) {
      this.#remove(c);
      c.res.end();
    }
  }

  /** Ends the streams a user opened, or those opened with one token; answers how many. */
  end(which: { user: number } | { token: string }): number {
    let ended = 0;
    for (const c of [...this.#clients]) {
      if (c.owner === undefined || ('user' in which ? c.owner.user !== which.user : c.owner.token !== which.token)) continue;
      this.#remove(c);
      c.res.end();
      ended++;
    }
    return ended;
  }

  get clients(): number {
    return this.#clients.size;
  }

  #broadcast(frame: string, wanted: (c: Client) => boolean): void {
    for (const c of [...this.#clients]) {
      if (!wanted(c)) continue;
      if (c.res.writableLength > MAX_BACKLOG) {
        // Not reading: drop it rather than hold its backlog; the console reconnects and reloads.
        this.#remove(c);
        c.res.destroy();
        continue;
      }
      c.res.write(frame);
    }
  }

  #remove(client: Client): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#ping) {
      clearInterval(this.#ping);
      this.#ping = undefined;
    }
  }
}

function frameOf(type: string, data: unknown, id?: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(type)) throw new CairnError('E_INTERNAL', `bad event type ${JSON.stringify(type)}`);
  if (id !== undefined && !/^[A-Za-z0-9._-]+$/.test(id)) throw new CairnError('E_INTERNAL', `bad event id ${JSON.stringify(id)}`);
  // JSON.stringify escapes newlines inside strings, so the data is one line as SSE requires.
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data) ?? 'null'}\n\n`;
}

// A console on GET /api/events for tests: its own HTTPS connection and bearer token, every event
// kept with the time it came, so a test can say what a stream carried and when.
import https from 'node:https';
import { EventStreamParser, type ServerEvent } from '../../src/cli/event-stream.ts';

export type Seen = { at: number; event: ServerEvent };
/** A CLI login file's contents: where the server is, its CA, the bearer token. */
export type Login = { server: string; ca: string; token: string };

export class Watcher {
  readonly seen: Seen[] = [];
  openedAt = 0;
  #req: ReturnType<typeof https.request> | undefined;

  /** Opens the stream (`query` appended to /api/events); rejects with the HTTP status unless 200. */
  static open(login: Login, query = '', headers: Record<string, string> = {}): Promise<Watcher> {
    const w = new Watcher();
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${login.server}/api/events${query}`,
        { headers: { ...headers, authorization: `Bearer ${login.token}` }, ca: login.ca, checkServerIdentity: () => undefined },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`GET /api/events${query}: HTTP ${res.statusCode}`));
            return;
          }
          w.openedAt = Date.now();
          const parser = new EventStreamParser();
          res.setEncoding('utf8');
          res.on('data', (t: string) => {
            for (const event of parser.push(t)) w.seen.push({ at: Date.now(), event });
          });
          res.on('error', () => undefined);
          resolve(w);
        },
      );
      req.on('error', reject);
      req.end();
      w.#req = req;
    });
  }

  /** The events of one type, of one run when given (`id`, or `run` for log lines). */
  of(type: string, run?: number): Seen[] {
    return this.seen.filter((s) => {
      if (s.event.type !== type) return false;
      const d = s.event.data as { id?: number; run?: number };
      return run === undefined || (type === 'log' || type === 'log-end' ? d.run : d.id) === run;
    });
  }

  close(): void {
    this.#req?.destroy();
  }
}

// `run log --follow` on the event stream: GET /api/events?run=N&after=S gives the log lines after
// the S already printed (each numbered by `seq`), then new ones as they are written, then
// `log-end` once the log is complete. A lost stream (a server restart) is opened again from the
// last line printed, so every line comes once and in order, as `run log` lists them afterwards.
import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError, isCairnError } from '../core/errors.ts';
import { type ApiClient, type EventStream, withQuery } from './api-client.ts';
import { RECONNECT_MS, UNREACHABLE_PATIENCE_MS } from './run-output.ts';

export type LogLine = { time: string; level: string; part: string; message: string };
type LogEvent = LogLine & { run: number; seq: number };

/** Consecutive streams that skipped a line before this gives up (the server numbers lines without gaps). */
const MAX_GAPS = 3;

/**
 * Calls `onLine` for each line of run `id`'s log, once and in order, until the log is complete
 * (at once for an ended run). Rejects with the server's refusal (no such run: E_NOT_FOUND), or
 * E_UNAVAILABLE when the server stays away longer than UNREACHABLE_PATIENCE_MS.
 */
export async function followRunLog(client: ApiClient, id: number, onLine: (line: LogLine) => void): Promise<void> {
  let have = 0;
  let gaps = 0;
  let unreachableSince: number | undefined;
  for (;;) {
    let stream: EventStream | undefined;
    try {
      stream = await client.openEvents(withQuery('/api/events', { run: id, after: have }));
      unreachableSince = undefined;
      let gap = false;
      for await (const event of stream.events) {
        const d = event.data as Partial<LogEvent> | null;
        if (typeof d !== 'object' || d === null || d.run !== id || typeof d.seq !== 'number') continue;
        if (event.type === 'log' && d.seq <= have) continue; // already printed
        // a line or the end beyond the last one printed: ask again from there
        gap = event.type === 'log' ? d.seq > have + 1 : event.type === 'log-end' && d.seq > have;
        if (gap) break;
        if (event.type === 'log-end') return;
        if (event.type !== 'log') continue;
        have = d.seq;
        gaps = 0;
        onLine({ time: String(d.time), level: String(d.level), part: String(d.part), message: String(d.message) });
      }
      if (gap && ++gaps > MAX_GAPS) throw new CairnError('E_INTERNAL', `the event stream skipped lines of run ${id}'s log after line ${have}`);
    } catch (e) {
      // a server restart keeps its runs and their logs: wait for it a while rather than lose the log
      if (!isCairnError(e, 'E_UNAVAILABLE')) throw e;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_PATIENCE_MS) throw e;
      await sleep(RECONNECT_MS);
    } finally {
      stream?.close();
    }
  }
}

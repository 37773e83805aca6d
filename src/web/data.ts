// Loading data in components: a call that re-runs when its key changes or on `reload`, and the
// event stream (GET /api/events, SSE with the session cookie) delivered to a handler.
import { useCallback, useEffect, useRef, useState } from 'react';
import { CALLS, urlOf } from './calls.ts';

export type Loaded<T> = { data: T | undefined; error: string | undefined; loading: boolean; reload: () => void };

export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(abort.signal).then(
      (data) => !abort.signal.aborted && setState({ data, error: undefined, loading: false }),
      (e: unknown) => !abort.signal.aborted && setState((s) => ({ data: s.data, error: (e as Error).message, loading: false })),
    );
    return () => abort.abort();
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export type EventType = 'run' | 'progress' | 'part' | 'log' | 'log-end';
export type ServerEvent = { type: EventType; data: Record<string, unknown> };
const PAGE_EVENTS: readonly EventType[] = ['run', 'progress', 'part'];

/**
 * Opens the event stream while the component is shown (`run`: only that run's events, and then
 * its log lines from the first; a reconnecting browser sends the last line's id and gets the rest).
 * `types`: the events handled (a run's `log` lines only where the log is shown).
 */
export function useEvents(onEvent: (e: ServerEvent) => void, run?: number, types: readonly EventType[] = PAGE_EVENTS): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const typeKey = types.join(' ');
  useEffect(() => {
    const source = new EventSource(urlOf(CALLS.events, {}, { run }));
    for (const type of typeKey.split(' ') as EventType[]) {
      source.addEventListener(type, (m: MessageEvent<string>) => {
        try {
          handler.current({ type, data: JSON.parse(m.data) as Record<string, unknown> });
        } catch {
          // a frame that is not JSON is not ours to show
        }
      });
    }
    return () => source.close();
  }, [run, typeKey]);
}

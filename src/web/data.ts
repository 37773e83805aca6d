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

export type ServerEvent = { type: 'run' | 'progress' | 'part'; data: Record<string, unknown> };

/** Opens the event stream while the component is shown (`run`: only that run's events). */
export function useEvents(onEvent: (e: ServerEvent) => void, run?: number): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    const source = new EventSource(urlOf(CALLS.events, {}, { run }));
    for (const type of ['run', 'progress', 'part'] as const) {
      source.addEventListener(type, (m: MessageEvent<string>) => {
        try {
          handler.current({ type, data: JSON.parse(m.data) as Record<string, unknown> });
        } catch {
          // a frame that is not JSON is not ours to show
        }
      });
    }
    return () => source.close();
  }, [run]);
}

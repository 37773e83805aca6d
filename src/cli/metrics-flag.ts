// `--metrics-listen HOST:PORT`, alike on `server start`, `storage start`, `agent start` and `up`:
// its declaration and help, its check (exit 2 before anything starts), and the stdout line a
// daemon prints once the endpoint is bound (tests and scripts read the port from it).
import { CairnError } from '../core/errors.ts';
import { parseListen } from '../core/listen.ts';

export const METRICS_OPTION = { 'metrics-listen': { type: 'string' as const } };
export const METRICS_HELP = {
  'metrics-listen': 'serve GET /metrics (Prometheus text, plain HTTP) on HOST:PORT; not saved, so give it at every start',
};

/** The flag's HOST:PORT, checked; undefined when not given. */
export function metricsListen(values: Record<string, unknown>, cmd: string): string | undefined {
  const v = values['metrics-listen'];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new CairnError('E_USAGE', `${cmd}: --metrics-listen needs HOST:PORT`);
  try {
    parseListen(v, 'metrics-listen');
  } catch (e) {
    throw new CairnError('E_USAGE', `${cmd}: ${(e as Error).message}`);
  }
  return v;
}

/** What a daemon prints after its first line(s) when it serves metrics. */
export function metricsLine(url: string | undefined): string {
  return url === undefined ? '' : `metrics listening on ${url}\n`;
}

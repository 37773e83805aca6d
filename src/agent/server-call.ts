// A run's calls to the backup server (snapshotCreated, snapshotIndex, renewGrant) across a
// dropped control link: a call that failed because the link is down waits for the link to come
// back and is sent again, so a server restart or a network blip does not fail a run that is
// otherwise fine. Resending is safe because the server ignores a repeated call (the answer to
// the first may be what was lost). Bounds: the waits of one call add up to at most `giveUpMs`
// (the server fails a run whose agent stays away for 2 minutes, so waiting much longer is
// pointless); the run's signal (cancel, agent stop) ends a wait at once. An E_UNAVAILABLE
// answered by the server itself, on a live link, is not a drop and fails the call as before.
import { CairnError, isCairnError } from '../core/errors.ts';
import { testDuration } from '../core/test-settings.ts';

/** What a run's calls need of the control link (control-client.ts ControlClient). */
export type ServerLink = {
  call: (method: string, params: unknown) => Promise<unknown>;
  readonly connected: boolean;
  waitConnected: (timeoutMs: number, signal?: AbortSignal) => Promise<boolean>;
};

/** How long one call waits, in all, for a dropped link to come back. */
export function linkWaitMs(): number {
  return testDuration('LINK_WAIT', 3 * 60_000);
}

/** `link.call`, retried on the next link each time the link drops under it, for at most `giveUpMs` of waiting. */
export function callAcrossDrops(
  link: ServerLink,
  o: { signal?: AbortSignal; giveUpMs?: number; log?: (line: string) => void } = {},
): (method: string, params: unknown) => Promise<unknown> {
  const giveUpMs = o.giveUpMs ?? linkWaitMs();
  return async (method, params) => {
    let waited = 0;
    for (;;) {
      o.signal?.throwIfAborted();
      try {
        return await link.call(method, params);
      } catch (e) {
        // a server's own E_UNAVAILABLE comes on a live link; a drop leaves the link down (control-client.ts)
        if (!isCairnError(e, 'E_UNAVAILABLE') || link.connected) throw e;
        if (waited === 0) o.log?.(`${method}: ${e.message}; waiting for the backup server`);
      }
      const started = performance.now();
      const back = giveUpMs > waited && (await link.waitConnected(giveUpMs - waited, o.signal));
      waited += performance.now() - started;
      if (!back)
        throw new CairnError(
          'E_UNAVAILABLE',
          `${method}: the backup server stayed unreachable for ${Math.round(giveUpMs / 1000)} s; the run is given up`,
        );
    }
  };
}

// Keeps a run's grant fresh (docs/control-plane.md "Grants on the data plane"): the storage
// client reads the current grant on every request, and once half of the grant's life is gone
// the keeper asks the backup server for a new one (`renewGrant {run}`). A failed renewal is
// retried a little later; the old grant stays in use until it expires.
import { CairnError } from '../core/errors.ts';
import type { RenewGrantResult } from '../protocol/control.ts';

/** Retry delay after a failed renewal. */
const RETRY_MS = 10_000;

/** The expiry (ms since the epoch) a grant states; the payload is base64url JSON before the '.'. */
export function grantExpiry(grant: string): number {
  const dot = grant.indexOf('.');
  try {
    const payload = JSON.parse(Buffer.from(dot < 0 ? grant : grant.slice(0, dot), 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    if (typeof payload.exp === 'number' && Number.isFinite(payload.exp)) return payload.exp;
  } catch {
    // reported below
  }
  throw new CairnError('E_BAD_REQUEST', 'grant: not a grant (no expiry in its payload)');
}

export type Renew = () => Promise<string>;

export class GrantKeeper {
  #grant: string;
  #exp: number;
  /** when the current grant is half gone */
  #renewAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #closed = false;
  readonly #renew: Renew;
  readonly #log: (line: string) => void;
  readonly #now: () => number;

  constructor(grant: string, renew: Renew, o: { log?: (line: string) => void; now?: () => number } = {}) {
    this.#renew = renew;
    this.#log = o.log ?? (() => undefined);
    this.#now = o.now ?? Date.now;
    this.#grant = grant;
    this.#exp = 0;
    this.#take(grant);
  }

  /** The grant to send now (what the storage client's `grant` option calls). */
  readonly current = (): string => {
    if (this.#now() >= this.#renewAt) void this.renewNow();
    return this.#grant;
  };

  #take(grant: string): void {
    const exp = grantExpiry(grant);
    const now = this.#now();
    this.#grant = grant;
    this.#exp = exp;
    this.#renewAt = now + Math.max(0, exp - now) / 2;
    this.#schedule(this.#renewAt - now);
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.renewNow(), Math.max(0, delay));
    this.#timer.unref();
  }

  /** Asks for a new grant now (once at a time); resolves when that attempt is over. */
  renewNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#renewing ??= (async () => {
      try {
        this.#take(await this.#renew());
      } catch (e) {
        const left = Math.round((this.#exp - this.#now()) / 1000);
        this.#log(`grant renewal failed (${(e as Error).message}); the current one has ${left} s left`);
        this.#renewAt = this.#now() + RETRY_MS;
        this.#schedule(RETRY_MS);
      } finally {
        this.#renewing = undefined;
      }
    })();
    return this.#renewing;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}

/** A renewal through the control channel's `renewGrant {run}` call. */
export function renewByCall(call: (method: string, params: unknown) => Promise<unknown>, run: number): Renew {
  return async () => {
    const answer = (await call('renewGrant', { run })) as Partial<RenewGrantResult> | undefined;
    if (typeof answer?.grant !== 'string') throw new CairnError('E_BAD_REQUEST', 'renewGrant answered without a grant');
    return answer.grant;
  };
}

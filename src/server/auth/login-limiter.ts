// Slows password guessing: at most `max` failed logins per user name and per remote address in a
// sliding window (default 5 in 15 minutes); beyond that a login is refused before its password is
// looked at. Per name stops guessing one account from many addresses, per address stops one
// client trying many names. In memory: a restart forgets, which costs an attacker a restart of
// the server they cannot cause. Memory is bounded: old failures are dropped, and at most
// MAX_KEYS names and addresses are tracked (the stalest forgotten first).
import { CairnError } from '../../core/errors.ts';

const MAX_KEYS = 10_000;

export class LoginLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  /** key → times of failures in the window, oldest first; Map order is least recently failed first. */
  readonly #failures = new Map<string, number[]>();

  constructor(opts: { max?: number; windowMs?: number; now?: () => number } = {}) {
    this.#max = opts.max ?? 5;
    this.#windowMs = opts.windowMs ?? 15 * 60 * 1000;
    this.#now = opts.now ?? Date.now;
  }

  /** E_UNAUTHORIZED when the user name or the address has used up its failures. */
  check(user: string, address: string): void {
    const now = this.#now();
    let waitMs = 0;
    for (const key of [userKey(user), addressKey(address)]) {
      const times = this.#recent(key, now);
      if (times.length >= this.#max) waitMs = Math.max(waitMs, times[times.length - this.#max]! + this.#windowMs - now);
    }
    if (waitMs > 0)
      throw new CairnError('E_UNAUTHORIZED', `too many failed logins; try again in ${Math.max(1, Math.ceil(waitMs / 1000))} s`);
  }

  failed(user: string, address: string): void {
    const now = this.#now();
    for (const key of [userKey(user), addressKey(address)]) {
      const times = this.#recent(key, now);
      times.push(now);
      if (times.length > this.#max) times.splice(0, times.length - this.#max); // only the last `max` decide
      this.#failures.delete(key); // re-insert: the Map's order stays least recently failed first
      this.#failures.set(key, times);
    }
    while (this.#failures.size > MAX_KEYS) this.#failures.delete(this.#failures.keys().next().value!);
  }

  /** A correct password clears the user's failures; the address keeps its own (it may be guessing others). */
  succeeded(user: string, _address: string): void {
    this.#failures.delete(userKey(user));
  }

  /** The key's failures still inside the window (older ones dropped). */
  #recent(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const fresh = times.filter((t) => now - t < this.#windowMs);
    if (fresh.length === 0) this.#failures.delete(key);
    else if (fresh.length !== times.length) this.#failures.set(key, fresh);
    return fresh;
  }
}

const userKey = (user: string) => `u:${user}`;
const addressKey = (address: string) => `a:${address}`;

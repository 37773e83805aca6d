// Slows password guessing (SPEC "Security subsystem": rate-limited attempts). Failed logins count
// over a sliding window (15 min) per (user name, address) and per address, the address being the
// TCP peer's (a header could name any). The 6th attempt on one (name, address), and any attempt
// from an address with 20 counted, is refused (429) before its password is looked at. An attempt
// still being checked counts as a failure until it ends, so a burst of concurrent guesses gets no
// more checks than a sequence would. A name alone is never locked: an address that has not failed
// logs in whatever others tried (guessing one account from many addresses costs an address per
// 5 guesses). A refusal costs no check and is not a failure, so knocking does not prolong a wait.
// Checks are bounded in number too: 4 run at once and 16 wait; a login beyond that is refused.
// In memory: a restart forgets. Memory is bounded: failures leave with their window, a key keeps
// only the failures that decide, and at most MAX_KEYS keys are tracked (the stalest forgotten).
import { isCairnError, TooManyError } from '../../core/errors.ts';
import { Slots } from '../../core/slots.ts';
import { now as clockNow } from '../../core/test-settings.ts';

export type LoginLimits = {
  /** attempts counted per (name, address) before the next is refused */
  perName: number;
  /** attempts counted per address before the next is refused, whatever the name */
  perAddress: number;
  windowMs: number;
  /** logins whose password is being checked at once, and logins waiting their turn */
  running: number;
  waiting: number;
  /** (name, address) and address keys tracked at most */
  maxKeys: number;
};

export const LOGIN_LIMITS: LoginLimits = { perName: 5, perAddress: 20, windowMs: 15 * 60 * 1000, running: 4, waiting: 16, maxKeys: 100_000 };

export const TOO_MANY_AT_ONCE = 'too many logins at once; try again';

/** An IPv4 peer seen through a dual-stack socket (`::ffff:1.2.3.4`) is the same peer as `1.2.3.4`. */
function peer(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class LoginLimiter {
  readonly #limits: LoginLimits;
  readonly #now: () => number;
  readonly #checks: Slots;
  /** key → times of counted failures in the window, oldest first; Map order: least recently failed first. */
  readonly #failures = new Map<string, number[]>();
  /** key → attempts being checked now (at most running + waiting of them, so never many keys). */
  readonly #inFlight = new Map<string, number>();

  constructor(opts: Partial<LoginLimits> & { now?: () => number } = {}) {
    const { now, ...limits } = opts;
    this.#limits = { ...LOGIN_LIMITS, ...limits };
    this.#now = now ?? clockNow;
    this.#checks = new Slots(this.#limits.running, this.#limits.waiting);
  }

  /** How many keys are tracked (failures and attempts in flight). */
  get trackedKeys(): number {
    return new Set([...this.#failures.keys(), ...this.#inFlight.keys()]).size;
  }

  /**
   * Runs `check` (the password check) for `user` from `address`, or refuses with E_TOO_MANY
   * without running it. A rejection with E_UNAUTHORIZED (a wrong name or password) counts as a
   * failure; a success clears the failures of this (name, address), not those of the address.
   */
  async attempt<T>(user: string, address: string, check: () => Promise<T>): Promise<T> {
    const keys = [pairKey(user, peer(address)), addressKey(peer(address))] as const;
    const now = this.#now();
    const waitMs = Math.max(this.#waitMs(keys[0], this.#limits.perName, now), this.#waitMs(keys[1], this.#limits.perAddress, now));
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new TooManyError(`too many failed logins; try again in ${seconds} s`, seconds);
    }
    if (this.#checks.full) throw new TooManyError(TOO_MANY_AT_ONCE, 1);
    for (const key of keys) this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    try {
      const result = await this.#checks.run(check);
      this.#failures.delete(keys[0]);
      return result;
    } catch (e) {
      if (isCairnError(e, 'E_UNAUTHORIZED')) this.#failed(keys);
      throw e;
    } finally {
      for (const key of keys) {
        const n = this.#inFlight.get(key)! - 1;
        if (n === 0) this.#inFlight.delete(key);
        else this.#inFlight.set(key, n);
      }
    }
  }

  /**
   * 0 when the key has fewer than `limit` attempts counted, else how long until enough leave the
   * window to admit one more, taking the attempts in flight as failing now.
   */
  #waitMs(key: string, limit: number, now: number): number {
    const times = [...this.#recent(key, now), ...Array<number>(this.#inFlight.get(key) ?? 0).fill(now)];
    if (times.length < limit) return 0;
    times.sort((a, b) => a - b);
    return Math.max(1, times[times.length - limit]! + this.#limits.windowMs - now);
  }

  #failed(keys: readonly [string, string]): void {
    const now = this.#now();
    for (const [key, limit] of [[keys[0], this.#limits.perName], [keys[1], this.#limits.perAddress]] as const) {
      const times = this.#recent(key, now);
      times.push(now);
      if (times.length > limit) times.splice(0, times.length - limit); // only the last `limit` decide
      this.#failures.delete(key); // re-insert: the Map's order stays least recently failed first
      this.#failures.set(key, times);
    }
    // the stalest keys first: those whose last failure has left the window, then beyond the cap
    for (const [key, times] of this.#failures) {
      if (this.#failures.size <= this.#limits.maxKeys && now - times[times.length - 1]! < this.#limits.windowMs) break;
      this.#failures.delete(key);
    }
  }

  /** The key's failures still inside the window (older ones dropped). */
  #recent(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const fresh = times.filter((t) => now - t < this.#limits.windowMs);
    if (fresh.length === 0) this.#failures.delete(key);
    else if (fresh.length !== times.length) this.#failures.set(key, fresh);
    return fresh;
  }
}

const pairKey = (user: string, address: string) => `p:${address}|${user}`;
const addressKey = (address: string) => `a:${address}`;


// A counting semaphore for costly work (argon2 derivations): at most `max` works run at once, the
// rest wait their turn in order. With a bounded queue the caller asks `full` first and refuses
// instead of queueing, so a flood cannot grow the queue (or the memory its requests hold).
export class Slots {
  readonly #max: number;
  readonly #maxWaiting: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number, maxWaiting = Infinity) {
    this.#max = max;
    this.#maxWaiting = maxWaiting;
  }

  /** True when every slot is taken and the queue is full: `run` now would wait beyond the bound. */
  get full(): boolean {
    return this.#running >= this.#max && this.#waiting.length >= this.#maxWaiting;
  }

  /** Runs `work` once a slot is free. A call takes its place in the queue before it returns. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.#running--;
    }
  }
}

// What a run tells the backup server besides its progress, kept bounded however much goes
// wrong: RunLog sends the run's log lines (`event` frames of kind 'log') and stops at
// MAX_RUN_LOG_LINES (runLogLimit), its last line then saying how many more there were; WarningTally keeps the
// first MAX_RESULT_ENTRIES warnings for the run's result and only counts the rest, so a backup of
// 100,000 unreadable files neither holds 100,000 warnings nor sends a reply past the frame limit.
import { type LogEventData, MAX_RESULT_ENTRIES, runLogLimit, type Warning } from '../protocol/control.ts';

export class RunLog {
  readonly #send: (data: LogEventData) => void;
  readonly #limit: number;
  #sent = 0;
  #dropped = 0;

  constructor(send: (data: LogEventData) => void, limit = runLogLimit()) {
    this.#send = send;
    this.#limit = limit;
  }

  /** Sends one line, unless the run has used up its lines (then it is counted). */
  line(level: LogEventData['level'], message: string): void {
    // the last line is kept for saying how many were dropped
    if (this.#sent >= this.#limit - 1) {
      this.#dropped++;
      return;
    }
    this.#sent++;
    this.#send({ level, message });
  }

  /** Ends the log: says how many lines did not fit, if any. */
  close(): void {
    if (this.#dropped === 0) return;
    // the words the server uses when it drops lines itself
    this.#send({ level: 'warn', message: `${this.#dropped} more lines not kept` });
    this.#sent++;
    this.#dropped = 0;
  }
}

export class WarningTally {
  readonly listed: Warning[] = [];
  total = 0;
  readonly #onWarning: ((w: Warning) => void) | undefined;
  readonly #max: number;

  constructor(onWarning?: (w: Warning) => void, max = MAX_RESULT_ENTRIES) {
    this.#onWarning = onWarning;
    this.#max = max;
  }

  push(...warnings: Warning[]): number {
    for (const w of warnings) {
      this.total++;
      if (this.listed.length < this.#max) this.listed.push(w);
      this.#onWarning?.(w);
    }
    return this.total;
  }
}

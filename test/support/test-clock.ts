// The daemons' test clock (src/core/test-settings.ts): an offset in ms in a file the daemons
// re-read on every scheduler pass, so a test sets the server's wall clock to a chosen instant
// and it runs on from there in real time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cluster.ts';

export class TestClock {
  readonly file = join(tempDir('cairn-clock-'), 'offset');

  constructor() {
    writeFileSync(this.file, '0');
  }

  /** The environment a daemon needs to follow this clock (the scheduler passing every `tickMs`). */
  env(tickMs = 250): Record<string, string> {
    return { CAIRN_TEST: '1', CAIRN_TEST_CLOCK_OFFSET_FILE: this.file, CAIRN_TEST_SCHEDULER_TICK_MS: String(tickMs), TZ: 'UTC' };
  }

  /** From now on the daemons' clock reads `at` (and runs on in real time). */
  set(at: number): void {
    writeFileSync(this.file, String(at - Date.now()));
  }
}

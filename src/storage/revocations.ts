// The agent certificates the backup server has revoked (removed agents), as this storage server
// knows them: in memory, and in `revoked.json` in the data folder (written atomically) so a restart
// refuses them at once. Until the backup server has sent its full list once since this process
// started, grant-authorized requests are refused: a removal made while this server was offline
// must not be served in between.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError } from '../core/errors.ts';
import { testDuration } from '../core/test-settings.ts';

export const REVOKED_FILE = 'revoked.json';
const FINGERPRINT = /^[0-9a-f]{64}$/;
/** far more removed agents than any deployment has; bounds a control call's work */
const MAX_FINGERPRINTS = 100_000;

export function parseFingerprints(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > MAX_FINGERPRINTS) throw new CairnError('E_BAD_REQUEST', `${what}: fingerprints must be an array of at most ${MAX_FINGERPRINTS}`);
  for (const f of v) if (typeof f !== 'string' || !FINGERPRINT.test(f)) throw new CairnError('E_BAD_REQUEST', `${what}: a fingerprint must be 64 lowercase hex digits`);
  return v as string[];
}

export class Revocations {
  readonly #path: string;
  #revoked = new Set<string>();
  #received = false;
  readonly #startedAt = Date.now();
  /** tests of a storage server with no backup server behind it serve with the saved list after this */
  readonly #waitMs = testDuration('REVOKED_LIST_WAIT', Number.POSITIVE_INFINITY);
  /** writes in order: a full list never overtakes an addition sent after it */
  #writing: Promise<void> = Promise.resolve();

  private constructor(dataDir: string) {
    this.#path = join(dataDir, REVOKED_FILE);
  }

  /** The list as the last run of this storage server left it (none yet: empty). */
  static async load(dataDir: string): Promise<Revocations> {
    const r = new Revocations(dataDir);
    let text: string;
    try {
      text = await readFile(r.#path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return r;
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CairnError('E_BAD_REQUEST', `${r.#path} is not JSON: remove it and let the backup server send its list again`);
    }
    r.#revoked = new Set(parseFingerprints((parsed as { fingerprints?: unknown })?.fingerprints, r.#path));
    return r;
  }

  /** Has the backup server sent its full list since this process started? */
  get received(): boolean {
    return this.#received || Date.now() - this.#startedAt >= this.#waitMs;
  }

  has(fingerprint: string): boolean {
    return this.#revoked.has(fingerprint);
  }

  /**
   * Adds fingerprints; `full`: they are the backup server's whole list. A revoked certificate never
   * comes back (a re-enrolled agent gets a new one), so even a full list only adds: a full list
   * computed before a removal cannot undo the removal's own call that overtook it.
   */
  async apply(fingerprints: string[], full: boolean): Promise<number> {
    const next = new Set([...this.#revoked, ...fingerprints]);
    // refused in memory at once; the file follows
    this.#revoked = next;
    if (full) this.#received = true;
    const data = JSON.stringify({ fingerprints: [...next].sort() });
    this.#writing = this.#writing.catch(() => undefined).then(() => writeFileAtomic(this.#path, data, { mode: 0o600 }));
    await this.#writing;
    return next.size;
  }
}

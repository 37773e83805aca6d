// The key-check values this agent pinned, one per vault at its first use (docs/security.md
// "Vault keys"): `vault-checks.json` in the data folder, {"STORAGE/VAULT": CHECK}, 0600, written
// atomically. Keys never change, so keys whose check value differs from the pinned one are
// another vault's, whatever the backup server or the storage server says.
import path from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError } from '../core/errors.ts';

export const VAULT_CHECKS_FILE = 'vault-checks.json';

export class VaultCheckPins {
  readonly #file: string;
  /** writes one after the other: runs on several vaults may pin at once */
  #writing: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.#file = path.join(dataDir, VAULT_CHECKS_FILE);
  }

  async #read(): Promise<Record<string, string>> {
    const text = await readTextIfExists(this.#file);
    if (text === undefined) return {};
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((c) => typeof c === 'string')) return v as Record<string, string>;
    } catch {
      // said below
    }
    throw new CairnError('E_CORRUPT', `${this.#file} is damaged: it should map STORAGE/VAULT to key-check values`);
  }

  /**
   * Pins `check` for the vault at its first use; E_CONFLICT (before anything is written to the
   * vault) when another value was pinned.
   */
  check(storage: string, vault: string, check: string): Promise<void> {
    const key = `${storage}/${vault}`;
    const done = this.#writing.then(async () => {
      const pins = await this.#read();
      const pinned = pins[key];
      if (pinned === check) return;
      if (pinned !== undefined)
        throw new CairnError(
          'E_CONFLICT',
          `vault ${vault}: the keys sent for it are not the ones this agent pinned at its first use (key-check value pinned ${pinned}, these keys give ${check}); refused before writing anything`,
        );
      pins[key] = check;
      await writeFileAtomic(this.#file, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
    });
    this.#writing = done.catch(() => undefined);
    return done;
  }
}

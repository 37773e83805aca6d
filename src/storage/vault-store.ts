// The vaults of one storage server on local disk: their layout, atomic creation, and the open
// handles (config, chunk index, pack reader) the handlers use. See docs/architecture.md,
// "Storage server", for the layout:
//   DATA/vaults/<vault>/vault.json, packs/<aa>/<sha256>, index.sqlite, snapshots/, tmp/
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError, fromSystemError } from '../core/errors.ts';
import { checkVaultName, parseVaultConfig, type VaultConfig } from '../protocol/data-plane.ts';
import { ChunkIndex } from './chunk-index.ts';
import { fsyncDir, writeFileAtomic } from '../core/durable-fs.ts';
import { PackReader } from './pack-reader.ts';
import { indexOrphanPacks } from './pack-recovery.ts';
import { GcIndex } from './gc-index.ts';
import { CommitGate, PackPins } from './pack-pins.ts';

export class Vault {
  readonly name: string;
  readonly dir: string;
  /** replaced whole when the key file changes (a new passphrase); never mutated in place */
  config: VaultConfig;
  readonly index: ChunkIndex;
  readonly reader: PackReader;
  readonly gcIndex: GcIndex;
  /** packs being read: a gc unlinks a retired pack only when its reads are over */
  readonly pins = new PackPins();
  /** snapshot commits (shared) against a gc's final listing and sweep (exclusive) */
  readonly commits = new CommitGate();
  /** sweeps that dropped index rows since the process started: a snapshot upload that saw one re-checks its refs */
  sweeps = 0;

  constructor(name: string, dir: string, config: VaultConfig) {
    this.name = name;
    this.dir = dir;
    this.config = config;
    this.index = new ChunkIndex(join(dir, 'index.sqlite'));
    this.gcIndex = new GcIndex(this.index.db);
    this.reader = new PackReader((pack) => this.packPath(pack));
  }

  /**
   * Unlinks a pack a gc retired (its index rows are gone), once every read that found it there
   * has ended; a pack indexed again meanwhile (uploaded anew) is kept. Then forgets it.
   */
  async unlinkRetired(name: string): Promise<void> {
    await this.pins.idle(name);
    if (!this.index.hasPack(name)) {
      await this.reader.drop(name);
      const path = this.packPath(name);
      await rm(path, { force: true });
      await fsyncDir(dirname(path)).catch(() => undefined); // its prefix directory may be gone
    }
    this.gcIndex.forgetRetired(name);
  }

  get tmpDir(): string {
    return join(this.dir, 'tmp');
  }

  get packsDir(): string {
    return join(this.dir, 'packs');
  }

  get snapshotsDir(): string {
    return join(this.dir, 'snapshots');
  }

  packPath(name: string): string {
    return join(this.dir, 'packs', name.slice(0, 2), name);
  }

  async close(): Promise<void> {
    await this.reader.close();
    this.index.close();
  }
}

/**
 * Keys never change (a new key file only re-wraps them), so a replacement keeps the vault's id and
 * key-check value; it may set them where the vault had none (a vault made before them).
 */
function checkSameKeys(name: string, current: VaultConfig['keyFile'], next: VaultConfig['keyFile']): void {
  for (const [field, what] of [['check', 'key-check value'], ['vaultId', 'vault id']] as const) {
    const was = current[field];
    if (was !== undefined && next[field] !== was)
      throw new CairnError(
        'E_CONFLICT',
        `vault ${name}: the new key file's ${what} (${next[field] ?? 'none'}) differs from the vault's (${was}); a key file may only re-wrap the same keys`,
      );
  }
}

export class VaultStore {
  readonly #root: string;
  readonly #open = new Map<string, Promise<Vault>>();
  #closed = false;

  readonly dataDir: string;

  constructor(dataDir: string) {
    this.dataDir = dataDir;
    this.#root = join(dataDir, 'vaults');
  }

  async init(): Promise<void> {
    await mkdir(this.#root, { recursive: true });
    // Leftovers of creations interrupted by a crash (never visible under a vault name).
    for (const e of await readdir(this.#root)) if (e.startsWith('.creating-')) await rm(join(this.#root, e), { recursive: true, force: true });
  }

  /** Creates a vault atomically: built under a hidden name, then renamed into place. E_CONFLICT when it exists. */
  async create(name: string, config: VaultConfig): Promise<void> {
    checkVaultName(name);
    const staging = join(this.#root, `.creating-${name}-${randomBytes(6).toString('hex')}`);
    try {
      for (const sub of ['packs', 'snapshots', 'tmp']) await mkdir(join(staging, sub), { recursive: true });
      await writeFileAtomic(join(staging, 'vault.json'), `${JSON.stringify(config, null, 2)}\n`);
      await fsyncDir(staging);
      try {
        await rename(staging, join(this.#root, name));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new CairnError('E_CONFLICT', `vault ${name} already exists`);
        throw e;
      }
      await fsyncDir(this.#root);
    } catch (e) {
      await rm(staging, { recursive: true, force: true });
      throw fromSystemError(e, `creating vault ${name}`);
    }
  }

  /**
   * Replaces the passphrase-wrapped key file (a new passphrase: the keys, and so the data, stay
   * the same). vault.json is rewritten atomically; the chunker and everything else are kept.
   */
  async replaceKeyFile(name: string, keyFile: VaultConfig['keyFile'], options: { keepOld?: boolean } = {}): Promise<void> {
    const vault = await this.open(name);
    checkSameKeys(name, vault.config.keyFile, keyFile);
    if (options.keepOld) {
      // append-only: the old key file stays beside the new one, durable, named by its own hash (so
      // the old passphrase still opens the vault whoever changed it)
      const old = `${JSON.stringify(vault.config.keyFile, null, 2)}\n`;
      const dir = join(vault.dir, 'keyfiles');
      if ((await mkdir(dir, { recursive: true })) !== undefined) await fsyncDir(vault.dir);
      await writeFileAtomic(join(dir, `${createHash('sha256').update(old).digest('hex')}.json`), old, { mode: 0o600 });
    }
    const config = parseVaultConfig({ ...vault.config, keyFile });
    await writeFileAtomic(join(vault.dir, 'vault.json'), `${JSON.stringify(config, null, 2)}\n`);
    vault.config = config;
  }

  /** The names of every vault of this storage server, sorted. */
  async list(): Promise<string[]> {
    const entries = await readdir(this.#root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  }

  /** The open vault; E_NOT_FOUND when there is none by that name. */
  open(name: string): Promise<Vault> {
    if (this.#closed) return Promise.reject(new CairnError('E_UNAVAILABLE', 'storage server is shutting down'));
    let v = this.#open.get(name);
    if (!v) {
      v = this.#load(name);
      this.#open.set(name, v);
      v.catch(() => this.#open.delete(name));
    }
    return v;
  }

  async #load(name: string): Promise<Vault> {
    checkVaultName(name);
    const dir = join(this.#root, name);
    let text: string;
    try {
      text = await readFile(join(dir, 'vault.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CairnError('E_NOT_FOUND', `no vault named ${name}`);
      throw fromSystemError(e, `reading vault ${name}`);
    }
    let config: VaultConfig;
    try {
      config = parseVaultConfig(JSON.parse(text));
    } catch (e) {
      throw new CairnError('E_CORRUPT', `vault ${name}: vault.json is damaged: ${(e as Error).message}`, { cause: e });
    }
    // Temp files of uploads cut short by a crash.
    await mkdir(join(dir, 'tmp'), { recursive: true });
    for (const f of await readdir(join(dir, 'tmp'))) await rm(join(dir, 'tmp', f), { force: true, recursive: true });
    const vault = new Vault(name, dir, config);
    // Packs a gc retired before a crash let it unlink them (so pack recovery cannot index them again).
    for (const pack of vault.gcIndex.retired()) await vault.unlinkRetired(pack);
    // Packs made durable but not indexed when a crash came between the two.
    const recovered = await indexOrphanPacks(vault);
    if (recovered.length) process.stderr.write(`cairn storage: vault ${name}: indexed ${recovered.length} pack(s) left unindexed by a crash\n`);
    return vault;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const vaults = await Promise.allSettled(this.#open.values());
    for (const v of vaults) if (v.status === 'fulfilled') await v.value.close();
    this.#open.clear();
  }
}

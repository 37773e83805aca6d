// Builds the web console (src/web/, React + Vite) into dist/web/ when it is missing or older than
// its source: `npm ci` runs it as the `prepare` script, and `server start` / `cairn up` call
// `ensureConsoleBuilt` before serving. Vite runs in-process (its JS API, loaded only when a build
// is needed). Servers started side by side may build at once: each builds into its own folder and
// renames it into place, so a reader never sees a half-written console; the last rename wins.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from '../../core/errors.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CONSOLE_SOURCE = join(ROOT, 'src/web');
export const CONSOLE_DIST = join(ROOT, 'dist/web');
/** Written last into a finished build: the newest source time it was built from. */
const STAMP = '.built-from';

/** The newest modification time (ms) of a file under `dir`. */
function newestMtime(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** 'fresh', or why the console must be built again. */
export function consoleState(source = CONSOLE_SOURCE, dist = CONSOLE_DIST): string {
  if (!existsSync(join(dist, 'index.html'))) return `missing: no ${join(dist, 'index.html')}`;
  // an install that ships the build without its source serves what it has
  if (!existsSync(source)) return 'fresh';
  let builtFrom = 0;
  try {
    builtFrom = Number(readFileSync(join(dist, STAMP), 'utf8'));
  } catch {
    return `stale: no ${STAMP} stamp`;
  }
  return newestMtime(source) > builtFrom ? `stale: ${source} changed since the build` : 'fresh';
}

/** Builds the console into `dist` (replacing what was there). */
export async function buildConsole(source = CONSOLE_SOURCE, dist = CONSOLE_DIST): Promise<void> {
  const sourceTime = newestMtime(source);
  const work = `${dist}.build-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(dist), { recursive: true });
  try {
    const { build } = await import('vite');
    const react = (await import('@vitejs/plugin-react')).default;
    await build({
      root: source,
      base: '/',
      configFile: false,
      logLevel: 'warn',
      plugins: [react()],
      build: { outDir: work, emptyOutDir: true, assetsDir: 'assets', sourcemap: false },
    });
    writeFileSync(join(work, STAMP), String(sourceTime));
    swapInto(work, dist);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw new CairnError('E_INTERNAL', `cannot build the web console from ${source}: ${(e as Error).message}`, { cause: e });
  }
}

/** Renames `work` to `dist`; when another builder put a fresh build there first, theirs stays. */
function swapInto(work: string, dist: string): void {
  const old = `${work}.old`;
  try {
    renameSync(dist, old);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    renameSync(work, dist);
  } catch (e) {
    if (!existsSync(join(dist, STAMP))) throw e;
    rmSync(work, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
}

/** Builds the console when it is missing or older than its source; answers what it did. */
export async function ensureConsoleBuilt(log: (line: string) => void = () => undefined): Promise<'fresh' | 'built'> {
  const state = consoleState();
  if (state === 'fresh') return 'fresh';
  const started = performance.now();
  await buildConsole();
  log(`built the web console into ${CONSOLE_DIST} (${state}) in ${Math.round(performance.now() - started)} ms`);
  return 'built';
}

if (import.meta.main) {
  await ensureConsoleBuilt((line) => process.stdout.write(`${line}\n`)).catch((e: unknown) => {
    process.stderr.write(`cairn: ${(e as Error).message}\n`);
    process.exit(1);
  });
}

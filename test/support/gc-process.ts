// Runs one storage-side gc over a data folder as its own process, as the storage server's
// control handler would (the folder's lock taken, so no server runs on it meanwhile):
//   node test/support/gc-process.ts DATA [--append-only] [--confirm CODE]
// prints the GcResult as JSON; CAIRN_TEST=1 CAIRN_TEST_GC_CRASH_AT=… makes it die as kill -9.
import { lockDataDir } from '../../src/core/data-dir-lock.ts';
import { storageControlHandlers } from '../../src/storage/control-handlers.ts';
import { VaultStore } from '../../src/storage/vault-store.ts';

const [dataDir, ...rest] = process.argv.slice(2);
const appendOnly = rest.includes('--append-only');
const at = rest.indexOf('--confirm');
const unlock = await lockDataDir(dataDir!, 'storage');
const store = new VaultStore(dataDir!);
try {
  await store.init();
  const result = await storageControlHandlers(store, { appendOnly }).gc!(at >= 0 ? { confirm: rest[at + 1] } : {});
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await store.close();
  await unlock();
}

// Migration 5: retention, forget and garbage collection. A snapshot being forgotten is marked
// (hidden from lists, not restorable) until the storage server has deleted its record; a backup
// run keeps the snapshot it builds on (so that one is not forgotten under it); a storage server
// gains its gc schedule and the last slot evaluated; a gc run keeps its figures.
import type { Dialect } from './driver.ts';

export function schemaV5(_d: Dialect): string[] {
  return [
    'ALTER TABLE snapshots ADD COLUMN forgetting_at BIGINT',
    'ALTER TABLE runs ADD COLUMN parent TEXT',
    'ALTER TABLE runs ADD COLUMN gc_result TEXT', // JSON {bytesFreed, chunksDeleted, packsRewritten, packsDeleted, confirmationNeeded?}
    'ALTER TABLE storages ADD COLUMN gc_schedule TEXT',
    'ALTER TABLE storages ADD COLUMN gc_checked_at BIGINT',
    'CREATE INDEX snapshots_forgetting ON snapshots (forgetting_at)',
  ];
}

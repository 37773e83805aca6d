// Migration 3: a backup run asked with --force-read keeps that wish until it starts (the
// scheduler then reads every file whatever its metadata, as for a full backup).
import type { Dialect } from './driver.ts';

export function schemaV3(_d: Dialect): string[] {
  return ['ALTER TABLE runs ADD COLUMN force_read BIGINT NOT NULL DEFAULT 0'];
}

// What a gc does with each pack once the sweep has dropped the unreferenced rows: decided from
// the index's figures alone (no file is read), so it is tested without processes and the same
// decision gives an append-only server's would-be figures. A pack serving no chunk is deleted; a
// pack whose unreferenced bytes are at least half of it is rewritten with the blobs it still
// serves (its new size is exact: the pack format's fixed overheads plus those blobs).
import { ENTRY_HEADER_SIZE, INDEX_RECORD_SIZE, PACK_FOOTER_SIZE, PACK_HEADER_SIZE } from '../core/pack.ts';
import type { GcResult } from '../protocol/control.ts';
import type { PackUsage } from './gc-index.ts';

export type GcFigures = Omit<GcResult, 'confirmationNeeded' | 'vaults'>;

export const noFigures = (): GcFigures => ({ bytesFreed: 0, chunksDeleted: 0, packsRewritten: 0, packsDeleted: 0 });

export function addFigures(into: GcFigures, more: GcFigures): GcFigures {
  into.bytesFreed += more.bytesFreed;
  into.chunksDeleted += more.chunksDeleted;
  into.packsRewritten += more.packsRewritten;
  into.packsDeleted += more.packsDeleted;
  return into;
}

/** The size of a pack holding `chunks` blobs of `sealedBytes` in all. */
export function packSize(chunks: number, sealedBytes: number): number {
  return PACK_HEADER_SIZE + chunks * (ENTRY_HEADER_SIZE + INDEX_RECORD_SIZE) + sealedBytes + 8 + PACK_FOOTER_SIZE;
}

export type PackPlan = { remove: PackUsage[]; rewrite: PackUsage[]; bytesFreed: number };

export function planPacks(usage: readonly PackUsage[]): PackPlan {
  const plan: PackPlan = { remove: [], rewrite: [], bytesFreed: 0 };
  for (const p of usage) {
    if (p.chunks === 0) {
      plan.remove.push(p);
      plan.bytesFreed += p.size;
      continue;
    }
    const freed = p.size - packSize(p.chunks, p.sealedBytes);
    if (freed * 2 >= p.size) {
      plan.rewrite.push(p);
      plan.bytesFreed += freed;
    }
  }
  return plan;
}

// A gc run's outcome, recorded as the other kinds' are (run-backup.ts, run-restore.ts,
// run-verify.ts): its figures at the top level of the run, and a log line saying what was freed,
// or on append-only storage what would be and where the confirmation code is.
import type { GcResult } from '../protocol/control.ts';
import { num, type ServerContext } from './context.ts';
import { logRun, type RunRow, updateRun } from './runs.ts';

export async function recordGc(ctx: ServerContext, run: RunRow, r: GcResult): Promise<void> {
  const id = num(run.id);
  const figures = { bytesFreed: num(r.bytesFreed), chunksDeleted: num(r.chunksDeleted), packsRewritten: num(r.packsRewritten), packsDeleted: num(r.packsDeleted), ...(r.confirmationNeeded ? { confirmationNeeded: true } : {}) };
  if (!(await updateRun(ctx, id, { status: 'succeeded', ended_at: Date.now(), gc_result: JSON.stringify(figures) }, 'running'))) return;
  await logRun(
    ctx,
    id,
    r.confirmationNeeded
      ? `storage ${run.storage} is append-only: would free ${figures.bytesFreed} bytes (${figures.chunksDeleted} chunks, ${figures.packsRewritten} packs rewritten, ${figures.packsDeleted} deleted); confirmation needed: read DATA/gc-confirm on storage ${run.storage}`
      : `succeeded: ${figures.bytesFreed} bytes freed, ${figures.chunksDeleted} chunks deleted, ${figures.packsRewritten} packs rewritten, ${figures.packsDeleted} deleted`,
  );
}

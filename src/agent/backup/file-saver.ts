// Main-thread side of reading files: plans chunk tasks for the workers and turns their answers
// into file nodes. Small files travel in batches (one task, one arena, one message for up to
// a few hundred files); a big file goes in segments of one arena each, a segment starting
// where the previous one's last chunk ended. A file is done when its last chunk id is known;
// sealing continues behind it (BlobSealer). A file whose size or times moved while it was read
// keeps the metadata seen before the read (so the next backup reads it again) and a warning.
import type { BigIntStats } from 'node:fs';
import type { ChunkerParams } from '../../core/chunker.ts';
import type { TreeNode } from '../../core/tree.ts';
import { displayPath, type WarningSink } from '../scan.ts';
import type { WorkerPool } from '../worker-pool.ts';
import type { ArenaPool } from './arena-pool.ts';
import type { BlobSealer } from './blob-sealer.ts';
import type { ChunkResult, FilePiece, PieceOutcome, WorkerResult, WorkerTask } from './chunk-messages.ts';
import { swapAfterScan } from './swap-hook.ts';

export type FileDone = (node: TreeNode | undefined) => void;

type FileJob = { path: Buffer; stat: BigIntStats; node: TreeNode; chunks: Buffer[]; done: FileDone };

export type FileSaverStats = { bytesRead: number; filesChanged: number };

const MAX_FILES_PER_BATCH = 512;

/** A piece of the job's file; the worker checks it opened the inode the scan saw. */
function pieceOf(job: FileJob, offset: number, limit: number): FilePiece {
  return { path: job.path, offset, limit, dev: job.stat.dev, ino: job.stat.ino };
}

export class FileSaver {
  #pool: WorkerPool<WorkerTask, WorkerResult>;
  #sealer: BlobSealer;
  #arenas: ArenaPool;
  #warnings: WarningSink;
  #stats: FileSaverStats;
  /** the most file bytes one task may cut: the arena minus the chunker's look-ahead */
  #segment: number;
  #batch: FileJob[] = [];
  #batchBytes = 0;
  #pending = new Set<Promise<void>>();

  constructor(d: {
    pool: WorkerPool<WorkerTask, WorkerResult>;
    sealer: BlobSealer;
    arenas: ArenaPool;
    chunker: ChunkerParams;
    warnings: WarningSink;
    stats: FileSaverStats;
  }) {
    this.#pool = d.pool;
    this.#sealer = d.sealer;
    this.#arenas = d.arenas;
    this.#warnings = d.warnings;
    this.#stats = d.stats;
    this.#segment = d.arenas.arenaSize - d.chunker.max;
  }

  /** Queues a file to be read; resolves once accepted (waits when the pipeline is full). */
  async save(path: Buffer, stat: BigIntStats, node: TreeNode, done: FileDone): Promise<void> {
    swapAfterScan(path);
    const job: FileJob = { path, stat, node, chunks: [], done };
    const size = Number(stat.size);
    if (size > this.#segment) {
      await this.#send([job], [pieceOf(job, 0, this.#segment)]);
      return;
    }
    // +1: a whole-file read needs one spare byte to see EOF without a second arena
    if (this.#batch.length >= MAX_FILES_PER_BATCH || this.#batchBytes + size + 1 > this.#segment)
      await this.flush();
    this.#batch.push(job);
    this.#batchBytes += size + 1;
  }

  /** Sends the batch being gathered, if any. */
  async flush(): Promise<void> {
    if (this.#batch.length === 0) return;
    const jobs = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    await this.#send(
      jobs,
      jobs.map((j) => pieceOf(j, 0, Math.max(1, Number(j.stat.size)))),
    );
  }

  /** Waits until every file sent so far is done (their chunks may still be sealing). */
  async drain(): Promise<void> {
    await this.flush();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async #send(jobs: FileJob[], pieces: FilePiece[]): Promise<void> {
    const arena = await this.#arenas.acquire();
    const run = this.#pool.run({ kind: 'chunk', pieces, arena }) as Promise<ChunkResult>;
    const p: Promise<void> = run
      .then((r) => this.#handle(arena, jobs, pieces, r))
      .finally(() => this.#pending.delete(p));
    // A failed task (a worker died) fails the pipeline: the scan must not wait for its arena.
    p.catch((e: unknown) => this.#arenas.fail(e));
    this.#pending.add(p);
  }

  #handle(arena: number, jobs: FileJob[], pieces: FilePiece[], r: ChunkResult): void {
    const failed: [number, number][] = [];
    let first = 0;
    r.pieces.forEach((o, k) => {
      const job = jobs[k]!;
      if (o.error !== undefined) {
        failed.push([first, first + o.chunks]);
        this.#warnings.push({ path: displayPath(job.path), reason: `not saved: ${o.error}` });
        job.done(undefined);
      } else {
        this.#stats.bytesRead += o.end - pieces[k]!.offset; // file bytes chunked (look-ahead re-reads not counted)
        for (let i = first; i < first + o.chunks; i++)
          job.chunks.push(Buffer.from(r.ids.buffer, r.ids.byteOffset + i * 32, 32));
        if (o.eof) this.#finish(job, o);
        else this.#continue(job, o.end, pieces[k]!.limit);
      }
      first += o.chunks;
    });
    this.#sealer.submitData(arena, r, (i) => !failed.some(([a, b]) => i >= a && i < b));
  }

  // A big file's next segment, or the rest of a small file that grew since its lstat.
  #continue(job: FileJob, offset: number, limit: number): void {
    const p: Promise<void> = this.#send(
      [job],
      [pieceOf(job, offset, Math.max(limit, this.#segment))],
    )
      .catch((e: unknown) => {
        this.#warnings.push({ path: displayPath(job.path), reason: `not saved: ${String(e)}` });
        job.done(undefined);
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  #finish(job: FileJob, o: PieceOutcome): void {
    const { stat, node } = job;
    const after = o.after!;
    if (
      o.end !== Number(stat.size) ||
      after.size !== Number(stat.size) ||
      after.mtimeNs !== stat.mtimeNs ||
      after.ctimeNs !== stat.ctimeNs
    ) {
      this.#warnings.push({ path: displayPath(job.path), reason: 'changed while it was read' });
    }
    node.size = o.end; // the content stored; the times stay those seen before the read
    node.chunks = job.chunks;
    this.#stats.filesChanged++;
    job.done(node);
  }
}

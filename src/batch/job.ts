import type { Logger } from "../log/logger.js";
import type { Predictor } from "../model/types.js";
import {
  DEFAULT_RETRY,
  isTransient,
  retryDelayMs,
  sleepUnlessStopped,
  type RetryPolicy,
} from "./retry.js";
import { rejectNullKeys } from "./null-keys.js";
import { scoreChunk, type ScoreSettings } from "./score.js";
import type {
  BatchSink,
  BatchSource,
  Checkpoint,
  ChunkOutcome,
  KeyValue,
  Partition,
} from "./types.js";

export interface BatchJob {
  jobId: string;
  source: BatchSource;
  sink: BatchSink;
  predictor: Predictor;
  idColumn: string;
  sinceColumn?: string;
  keepColumns: string[];
  actualColumn?: string;
  /** Rows per chunk (one commit); default DEFAULT_CHUNK_SIZE, or IN_DUCKDB_CHUNK_SIZE. */
  chunkSize?: number;
  partition?: Partition;
  fromStart?: boolean;
  /** Provenance written with each prediction. */
  model: { name: string; version: string; runId?: string };
  logger: Logger;
  onProgress?: (done: number, total: number) => void;
  /** Set by SIGTERM: the chunk being written is finished, then the run stops. */
  shouldStop?: () => boolean;
  /** Settles on SIGTERM: cuts short the wait before a retry. */
  stopping?: Promise<unknown>;
  /** Transient failures (connection lost, server restart) are retried from the checkpoint. */
  retry?: RetryPolicy;
  /** Called before each wait for a retry. */
  onRetry?: (error: unknown, retry: number, delayMs: number) => void;
  /**
   * File → file jobs are scored inside DuckDB, with the model run again in worker threads
   * from the predictor's run plan (see files/score-in-duckdb.ts). "off" keeps them on the
   * chunk pipeline; `constant` answers that value instead of running the model there (a
   * benchmark's ceiling).
   */
  inDuckDB?: "off" | { constant: number };
}

/** Rows per chunk of the chunk pipeline, which holds a chunk in JavaScript (three at a time). */
export const DEFAULT_CHUNK_SIZE = 50_000;
/**
 * Rows per chunk when a file → file job scores inside DuckDB. The chunk lives in DuckDB (which
 * spills beyond its memory limit), not in JavaScript, and each chunk costs a Parquet part and
 * a commit, so chunks are larger: a million rows is a fraction of a second there.
 */
export const IN_DUCKDB_CHUNK_SIZE = 1_000_000;

export interface BatchStats {
  rowsRead: number;
  rowsScored: number;
  rowsRejected: number;
  chunks: number;
  durationMs: number;
  /** Where the next run starts. */
  checkpoint?: Checkpoint;
  /** The run stopped early on request (SIGTERM) after a committed chunk. */
  stopped: boolean;
  /** The rows were scored inside DuckDB (file → file), not by the chunk pipeline. */
  inDuckDB: boolean;
  /** Passes started again from the checkpoint after a transient failure. */
  retries: number;
}

/** Counts of a run before its first chunk; the run adds to them as chunks commit. */
export function emptyStats(): BatchStats {
  return {
    rowsRead: 0,
    rowsScored: 0,
    rowsRejected: 0,
    chunks: 0,
    durationMs: 0,
    stopped: false,
    inDuckDB: false,
    retries: 0,
  };
}

/**
 * One run of a batch job: reads every row after the job's checkpoint in keyset order,
 * predicts chunk by chunk, and commits each chunk's predictions, rejects and new checkpoint
 * together. A crash loses at most the chunk in flight, which the next run redoes; upserts on
 * (id, model_version) make the redo harmless.
 *
 * A transient failure (connection terminated, server restart, serialization failure) starts
 * the pass again from the last committed checkpoint, after a backoff, in this process: up to
 * `retry.attempts` times in a row without a chunk committed in between. `stats` counts what
 * was committed, also when the run finally fails (the caller passes it to read it then).
 */
export async function runBatchOnce(
  job: BatchJob,
  stats: BatchStats = emptyStats(),
): Promise<BatchStats> {
  const started = performance.now();
  const policy = job.retry ?? DEFAULT_RETRY;
  let failures = 0;
  try {
    for (let first = true; ; first = false) {
      const chunksBefore = stats.chunks;
      try {
        await onePass(job, stats, first && job.fromStart === true);
        return stats;
      } catch (error) {
        if (stats.chunks > chunksBefore) failures = 0;
        if (!isTransient(error) || failures >= policy.attempts || job.shouldStop?.()) throw error;
        failures++;
        stats.retries++;
        const delay = retryDelayMs(policy, failures);
        job.logger.warn(
          {
            job: job.jobId,
            err: error,
            retry: failures,
            retries: policy.attempts,
            delayMs: delay,
            rowsCommitted: stats.rowsRead,
          },
          `${(error as Error).message}: retrying from the last committed chunk in ${delay} ms ` +
            `(retry ${failures} of ${policy.attempts})`,
        );
        job.onRetry?.(error, failures, delay);
        if (await sleepUnlessStopped(delay, job.stopping)) {
          // Stopped while waiting: everything committed so far stays, the next run resumes.
          stats.stopped = true;
          return stats;
        }
      }
    }
  } finally {
    stats.durationMs = performance.now() - started;
  }
}

/** Scores from the sink's checkpoint to the end (or a stop request), adding to `stats`. */
async function onePass(job: BatchJob, stats: BatchStats, fromStart: boolean): Promise<void> {
  if (fromStart) await job.sink.resetCheckpoint(job.jobId);
  let checkpoint = await job.sink.prepare(job.jobId);
  const inputs = job.predictor.info.inputs.map((spec) => spec.name);
  const columns = [
    ...new Set([
      ...inputs,
      ...job.keepColumns,
      ...(job.actualColumn !== undefined ? [job.actualColumn] : []),
    ]),
    // The id is read as the key; it is read again as a column only when the model takes it.
  ].filter((name) => name !== job.idColumn || inputs.includes(name));
  const read = {
    idColumn: job.idColumn,
    sinceColumn: job.sinceColumn,
    columns,
    after: checkpoint,
    partition: job.partition,
  };
  // Rows already committed by an earlier pass of this run count towards the progress.
  const total = stats.rowsRead + (await job.source.count(read));
  job.logger.info(
    {
      job: job.jobId,
      source: job.source.description,
      sink: job.sink.description,
      rows: total,
      after: checkpoint,
    },
    `scoring ${total} rows from ${job.source.description} into ${job.sink.description}`,
  );
  const settings: ScoreSettings = {
    idColumn: job.idColumn,
    sinceColumn: job.sinceColumn,
    predictionColumn: `predicted_${job.predictor.info.output}`,
    keepColumns: job.keepColumns.filter((name) => name !== job.idColumn),
    actualColumn: job.actualColumn,
    modelName: job.model.name,
    modelVersion: job.model.version,
    runId: job.model.runId,
  };

  job.onProgress?.(stats.rowsRead, total);
  /** Counts, logs and reports a chunk once the sink has committed it. */
  const committed = (chunk: ChunkOutcome) => {
    checkpoint = chunk.checkpoint;
    stats.rowsRead += chunk.rows;
    stats.rowsScored += chunk.scored;
    stats.rowsRejected += chunk.rejected;
    stats.chunks++;
    if (chunk.firstReject) logRejects(job, chunk.rejected, chunk.firstReject);
    job.onProgress?.(stats.rowsRead, Math.max(total, stats.rowsRead));
  };
  /** Rows outside the keyset (a NULL id or since value): rejects of every run. */
  const rejectNullKeyRows = () =>
    rejectNullKeys(
      {
        jobId: job.jobId,
        source: job.source,
        sink: job.sink,
        idColumn: job.idColumn,
        sinceColumn: job.sinceColumn,
        read,
        chunkSize: Math.min(job.chunkSize ?? DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE),
        prediction: {
          column: settings.predictionColumn,
          modelName: settings.modelName,
          modelVersion: settings.modelVersion,
          runId: settings.runId,
        },
        checkpoint: () => checkpoint,
      },
      ({ rows, first }) => {
        stats.rowsRead += rows;
        stats.rowsRejected += rows;
        stats.chunks++;
        logRejects(job, rows, first);
        job.onProgress?.(stats.rowsRead, Math.max(total, stats.rowsRead));
      },
    );
  // File → file jobs score inside DuckDB: a capability of the sink, which says whether it
  // can take this source.
  const scoredInDuckDB =
    job.inDuckDB !== "off" && job.sink.scoreInPlace
      ? await job.sink.scoreInPlace({
          jobId: job.jobId,
          source: job.source,
          predictor: job.predictor,
          constant: job.inDuckDB?.constant,
          read,
          chunkSize: job.chunkSize ?? IN_DUCKDB_CHUNK_SIZE,
          predictionColumn: settings.predictionColumn,
          keepColumns: settings.keepColumns,
          actualColumn: job.actualColumn,
          provenance: job.model,
          shouldStop: job.shouldStop,
          onChunk: committed,
        })
      : "unsupported";
  if (scoredInDuckDB !== "unsupported") {
    stats.inDuckDB = true;
    stats.stopped = scoredInDuckDB === "stopped";
    if (!stats.stopped) await rejectNullKeyRows();
    stats.checkpoint = checkpoint;
    return;
  }
  // Three stages overlap: the next chunk is read while this one is scored, and this one is
  // scored while the previous one is written (at most two extra chunks in memory). Writes
  // stay strictly in order, each committing its own checkpoint, so a crash still loses at
  // most the chunks not yet committed, which the next run redoes.
  const chunkSize = job.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const chunks = job.source.read({ ...read, chunkSize })[Symbol.asyncIterator]();
  let next = readAhead(chunks);
  let writing: Promise<void> | undefined;
  try {
    for (;;) {
      const result = await next;
      if (result.done) break;
      next = readAhead(chunks);
      const chunk = result.value;
      if (chunk.rows === 0) continue;
      const scored = await scoreChunk(chunk, job.predictor, settings);
      const last = chunk.rows - 1;
      const chunkCheckpoint: Checkpoint = {
        id: chunk.ids[last],
        ...(chunk.since !== undefined && chunk.since[last] !== null
          ? { since: chunk.since[last]! }
          : {}),
      };
      await writing;
      writing = job.sink
        .write({ jobId: job.jobId, ...scored, checkpoint: chunkCheckpoint })
        .then(() =>
          committed({
            rows: chunk.rows,
            scored: scored.predictions.ids.length,
            rejected: scored.rejects.ids.length,
            checkpoint: chunkCheckpoint,
            firstReject:
              scored.rejects.ids.length > 0
                ? { id: scored.rejects.ids[0], reason: scored.rejects.reasons[0] }
                : undefined,
          }),
        );
      // Marked handled now: a failed write surfaces at the next `await writing`, not as an
      // unhandled rejection while the next chunk is being scored.
      writing.catch(() => {});
      if (job.shouldStop?.()) {
        stats.stopped = true;
        break;
      }
    }
    await writing;
  } finally {
    // On an error the write in flight is still awaited: its chunk either commits or not, but
    // the sink is not closed under it.
    await writing?.catch(() => {});
    // A read still in flight when the loop ends early is abandoned (its error, if any, does not
    // matter any more); return() then closes the source's stream once that read has settled.
    await next.catch(() => {});
    await chunks.return?.().catch(() => {});
  }
  if (!stats.stopped) await rejectNullKeyRows();
  stats.checkpoint = checkpoint;
}

/**
 * The next chunk, read while the current one is scored and written. Marked handled at once:
 * a read that fails (its connection terminated) while the loop awaits a write or the model
 * must surface at the loop's next `await`, not kill the process as an unhandled rejection.
 */
function readAhead<T>(chunks: AsyncIterator<T>): Promise<IteratorResult<T>> {
  const next = chunks.next();
  next.catch(() => {});
  return next;
}

function logRejects(
  job: BatchJob,
  rejected: number,
  first: { id: KeyValue; reason: string },
): void {
  job.logger.warn(
    { job: job.jobId, rejected, first },
    `${rejected} rows not scored (see the rejects table): e.g. id ${first.id}: ${first.reason}`,
  );
}

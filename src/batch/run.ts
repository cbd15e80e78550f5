import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import {
  batchPusher,
  createBatchMetrics,
  withProcessMetrics,
  type BatchMetrics,
} from "../metrics/batch-metrics.js";
import { serveMetrics } from "../metrics/http.js";
import { loadPredictor } from "../model/predictor.js";
import type { Registry } from "../registry/registry.js";
import { openBatchSink, openBatchSource } from "./endpoints.js";
import { runBatchOnce, type BatchStats } from "./job.js";
import type { BatchSource } from "./types.js";
import { parsePartition } from "./partition.js";
import { intervalMs, type BatchOptions } from "./options.js";
import {
  checkCron,
  runOnSchedule,
  scheduleControl,
  type Schedule,
  type ScheduleControl,
} from "./schedule.js";

/** Runs of batch jobs are recorded in this experiment (`mldeploy batch history`). */
export const BATCH_EXPERIMENT = "batch";

export interface RunBatchDeps {
  registry: Registry;
  logger: Logger;
  /** Stops scheduling and the current run after its chunk in progress (SIGTERM). */
  control?: ScheduleControl;
  onProgress?: (done: number, total: number) => void;
}

/** "rides->ride_predictions[0/4]": the key of the job's checkpoint and the tag of its runs. */
export function defaultJobName(options: BatchOptions): string {
  const from = options.table ?? (options.query !== undefined ? "query" : lastPart(options.source));
  const to = options.sinkTable ?? lastPart(options.sink);
  return `${from}->${to}${options.partition !== undefined ? `[${options.partition}]` : ""}`;
}

function lastPart(uri: string): string {
  return (
    uri
      .replace(/[?#].*$/, "")
      .split(/[/:]/)
      .filter(Boolean)
      .pop() ?? uri
  );
}

/**
 * `mldeploy batch`: scores once, or on a schedule (--every / --cron) until stopped. Each run
 * is recorded as a run of the "batch" experiment with its counts, duration and model version.
 * The model is resolved at the start of every run, so a moved alias is picked up.
 */
export async function runBatch(options: BatchOptions, deps: RunBatchDeps): Promise<BatchStats[]> {
  const schedule: Schedule | undefined =
    options.every !== undefined
      ? { everyMs: intervalMs(options.every) }
      : options.cron !== undefined
        ? { cron: options.cron }
        : undefined;
  if (options.cron !== undefined) {
    try {
      checkCron(options.cron);
    } catch (error) {
      throw new UserError(`invalid setting "cron": ${(error as Error).message}`);
    }
  }
  const control = deps.control ?? scheduleControl();
  const jobId = options.jobName ?? defaultJobName(options);
  const reporting = await startReporting(options, jobId, deps.logger);
  const history: BatchStats[] = [];
  const once = async () => {
    const { metrics } = reporting;
    metrics?.runStarted();
    const started = performance.now();
    let ended: RunOutcome | undefined;
    try {
      ended = await runRecorded(options, jobId, deps, control, metrics);
      history.push(ended.stats);
    } finally {
      metrics?.runEnded({
        status: ended ? (ended.stats.stopped ? "KILLED" : "FINISHED") : "FAILED",
        durationMs: ended?.stats.durationMs ?? performance.now() - started,
        rowsRead: ended?.stats.rowsRead ?? 0,
        rowsScored: ended?.stats.rowsScored ?? 0,
        rowsRejected: ended?.stats.rowsRejected ?? 0,
        model: ended?.model,
      });
      await reporting.push();
    }
  };
  try {
    if (schedule === undefined) await once();
    else await runOnSchedule(schedule, once, control, deps.logger);
  } finally {
    await reporting.close();
  }
  return history;
}

/** The job's metrics, served on --metrics-port and/or pushed to --pushgateway after each run. */
async function startReporting(
  options: BatchOptions,
  jobId: string,
  logger: Logger,
): Promise<{ metrics?: BatchMetrics; push(): Promise<void>; close(): Promise<void> }> {
  if (options.metricsPort === undefined && options.pushgateway === undefined) {
    return { push: async () => {}, close: async () => {} };
  }
  const metrics = createBatchMetrics(jobId);
  const pusher =
    options.pushgateway === undefined
      ? undefined
      : batchPusher(options.pushgateway, jobId, metrics.registry, logger);
  let served: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  if (options.metricsPort !== undefined) {
    served = await serveMetrics(
      withProcessMetrics(metrics.registry),
      options.metricsPort,
      options.metricsHost,
    );
    logger.info({ metrics: served.url }, `metrics at ${served.url}`);
  }
  return {
    metrics,
    push: async () => pusher?.push(),
    close: async () => served?.close(),
  };
}

interface RunOutcome {
  stats: BatchStats;
  model: { name: string; version: string };
}

async function runRecorded(
  options: BatchOptions,
  jobId: string,
  deps: RunBatchDeps,
  control: ScheduleControl,
  metrics: BatchMetrics | undefined,
): Promise<RunOutcome> {
  const { registry, logger } = deps;
  const model = await registry.resolveModel(options.model);
  const predictor = await loadPredictor(model.path, { name: model.name, version: model.version });
  const run = await registry.startRun({
    experiment: BATCH_EXPERIMENT,
    tags: { job: jobId, model_uri: options.model, model_version: predictor.info.version },
  });
  let stats: BatchStats | undefined;
  let source: BatchSource | undefined;
  try {
    // Inside the try: a source that cannot be opened fails the run, not leaves it RUNNING.
    source = await openBatchSource(options.source, {
      table: options.table,
      query: options.query,
    });
    const sink = await openBatchSink(options.sink, { table: options.sinkTable });
    try {
      await run.logParams({
        source: source.description,
        sink: sink.description,
        chunk_size: options.chunkSize ?? "default",
        partition: options.partition ?? "",
      });
      stats = await runBatchOnce({
        jobId,
        source,
        sink,
        predictor,
        idColumn: options.idColumn,
        sinceColumn: options.sinceColumn,
        keepColumns: options.keepColumns,
        actualColumn: options.actualColumn,
        chunkSize: options.chunkSize,
        partition: parsePartition(options.partition),
        fromStart: options.fromStart,
        model: {
          name: predictor.info.name,
          version: predictor.info.version,
          // A bundle given by path has no registry run, but its MLmodel may name one.
          runId: model.runId ?? predictor.info.runId,
        },
        logger,
        onProgress:
          metrics === undefined
            ? deps.onProgress
            : (done, total) => {
                metrics.progress(done);
                deps.onProgress?.(done, total);
              },
        shouldStop: () => control.isStopped(),
      });
      // A file sink merges its committed parts into the target file. Partition workers share
      // the target, so they leave the merge to `mldeploy batch merge` once all have finished.
      if (options.partition === undefined && isMergeable(sink)) await sink.finalize();
    } finally {
      await sink.close();
    }
  } catch (error) {
    await run.end("FAILED").catch(() => undefined);
    throw error;
  } finally {
    await source?.close();
    await predictor.close();
  }
  await run.logMetrics({
    rows_read: stats.rowsRead,
    rows_scored: stats.rowsScored,
    rows_rejected: stats.rowsRejected,
    chunks: stats.chunks,
    duration_s: stats.durationMs / 1000,
    rows_per_s: stats.durationMs > 0 ? (stats.rowsRead / stats.durationMs) * 1000 : 0,
  });
  await run.end(stats.stopped ? "KILLED" : "FINISHED");
  logger.info(
    { job: jobId, run: run.id, ...stats },
    `scored ${stats.rowsScored} rows, rejected ${stats.rowsRejected} in ${(stats.durationMs / 1000).toFixed(1)} s` +
      (stats.stopped ? " (stopped: the next run resumes after the last committed chunk)" : ""),
  );
  return { stats, model: { name: predictor.info.name, version: predictor.info.version } };
}

interface Mergeable {
  finalize(): Promise<unknown>;
}

function isMergeable(sink: object): sink is Mergeable {
  return "finalize" in sink && typeof sink.finalize === "function";
}

import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import { batchPusher, createBatchMetrics, type BatchMetrics } from "./metrics.js";
import { startJobReporting, type JobReporting } from "../metrics/job-reporting.js";
import { importCacheDir, importedModelName, servableBundle } from "../import/servable.js";
import { loadPredictor } from "../model/predictor.js";
import {
  reportsHeartbeats,
  startDeploymentReporter,
  type DeploymentReporter,
} from "../registry/deployments/reporter.js";
import { parseModelUri } from "../registry/model-uri.js";
import type { Registry } from "../registry/registry.js";
import { openBatchSink, openBatchSource } from "./endpoints.js";
import {
  BATCH_EXPERIMENT,
  endGoneRuns,
  livenessTags,
  REASON_TAG,
  startHeartbeat,
} from "./history.js";
import { emptyStats, runBatchOnce, type BatchStats } from "./job.js";
import type { BatchSource } from "./types.js";
import { parsePartition } from "./partition.js";
import type { BatchOptions } from "./options.js";
import {
  durationMs,
  runOnSchedule,
  scheduleFromSettings,
  scheduleControl,
  type Schedule,
  type ScheduleControl,
} from "../schedule/schedule.js";

export { BATCH_EXPERIMENT };

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
 *
 * A run that fails (after its retries) is recorded FAILED with the rows it committed and the
 * reason. Run once, the error ends the command; on a schedule it is logged and counted, and
 * the job runs again at its next slot, from the last committed chunk. Only a first scheduled
 * run failing on a mistake in the settings (a UserError: no such table, cannot connect)
 * ends a scheduled process, as it would fail the same way at every slot.
 */
export async function runBatch(options: BatchOptions, deps: RunBatchDeps): Promise<BatchStats[]> {
  const schedule = scheduleFromSettings(options);
  const control = deps.control ?? scheduleControl();
  const jobId = options.jobName ?? defaultJobName(options);
  const reporting = await startReporting(options, jobId, deps.logger);
  const history: BatchStats[] = [];
  let runs = 0;
  // Rows read by the finished runs and by the one in progress: the heartbeat's rate.
  let rowsBefore = 0;
  let current = emptyStats();
  const heartbeat =
    schedule === undefined
      ? undefined
      : startHeartbeats(options, jobId, schedule, () => rowsBefore + current.rowsRead, deps);
  const once = async () => {
    const { metrics } = reporting;
    metrics?.runStarted();
    runs++;
    const started = performance.now();
    rowsBefore += current.rowsRead;
    // Filled in as chunks commit: what a failed run did commit is reported too.
    const stats = emptyStats();
    current = stats;
    let ended: RunOutcome | undefined;
    let failure: { error: unknown } | undefined;
    try {
      ended = await runRecorded(options, jobId, deps, control, metrics, stats, (version) =>
        heartbeat?.running(version),
      );
      history.push(ended.stats);
    } catch (error) {
      failure = { error };
    } finally {
      metrics?.runEnded({
        status: ended ? (ended.stats.stopped ? "KILLED" : "FINISHED") : "FAILED",
        durationMs: stats.durationMs > 0 ? stats.durationMs : performance.now() - started,
        rowsRead: stats.rowsRead,
        rowsScored: stats.rowsScored,
        rowsRejected: stats.rowsRejected,
        model: ended?.model,
      });
      await reporting.push();
    }
    if (failure === undefined) return;
    if (schedule === undefined || (runs === 1 && failure.error instanceof UserError)) {
      throw failure.error;
    }
    deps.logger.error(
      { job: jobId, err: failure.error, rowsCommitted: stats.rowsRead, retries: stats.retries },
      `run failed: ${errorText(failure.error)} (${stats.rowsRead} rows committed; ` +
        "the next run resumes after the last committed chunk)",
    );
  };
  try {
    if (schedule === undefined) await once();
    else await runOnSchedule(schedule, once, control, deps.logger);
  } finally {
    await heartbeat?.stop();
    await reporting.close();
  }
  return history;
}

/**
 * A scheduled job's heartbeats, between runs too (it is deployed, waiting for its next slot),
 * when its model comes from the registry; the version is the one its last run resolved.
 */
function startHeartbeats(
  options: BatchOptions,
  jobId: string,
  schedule: Schedule,
  rows: () => number,
  deps: RunBatchDeps,
): DeploymentReporter | undefined {
  if (options.heartbeatIntervalMs === 0 || !reportsHeartbeats(options.model)) return undefined;
  const parsed = parseModelUri(options.model);
  return startDeploymentReporter({
    store: deps.registry.store,
    mode: "batch",
    endpoint: `job ${jobId}, ${"everyMs" in schedule ? `every ${options.every}` : `cron "${schedule.cron}"`}`,
    modelUri: options.model,
    modelName: parsed.kind === "artifact" || parsed.kind === "run" ? undefined : parsed.name,
    intervalMs: options.heartbeatIntervalMs,
    count: rows,
    logger: deps.logger,
  });
}

/** The job's metrics, served on --metrics-port and/or pushed to --pushgateway after each run. */
function startReporting(
  options: BatchOptions,
  jobId: string,
  logger: Logger,
): Promise<JobReporting<BatchMetrics>> {
  return startJobReporting(
    options,
    () => createBatchMetrics(jobId),
    (url, registry) => batchPusher(url, jobId, registry, logger),
    logger,
  );
}

interface RunOutcome {
  stats: BatchStats;
  model: { name: string; version: string };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function runRecorded(
  options: BatchOptions,
  jobId: string,
  deps: RunBatchDeps,
  control: ScheduleControl,
  metrics: BatchMetrics | undefined,
  stats: BatchStats,
  /** The version this run scores with, once resolved (the heartbeat shows it). */
  onVersion: (version: string | undefined) => void = () => {},
): Promise<RunOutcome> {
  const { registry, logger } = deps;
  const model = await registry.resolveModel(options.model);
  onVersion(model.version);
  const predictor = await loadPredictor(
    await servableBundle(model.path, {
      features: options.feature,
      output: options.output,
      cacheDir: importCacheDir(registry.dataDir),
      uri: options.model,
      logger,
    }),
    { name: model.name ?? importedModelName(model.path), version: model.version },
  );
  // A run of this job left RUNNING by a process that died is ended first (KILLED).
  await endGoneRuns(registry, jobId, logger);
  const run = await registry.startRun({
    experiment: BATCH_EXPERIMENT,
    tags: {
      job: jobId,
      model_uri: options.model,
      model_version: predictor.info.version,
      ...livenessTags(),
    },
  });
  // The counts go with the heartbeat: a run whose process dies still shows what it committed.
  const stopHeartbeat = startHeartbeat(async () => {
    await run.setTags({ heartbeat: livenessTags().heartbeat });
    await run.logMetrics({
      rows_read: stats.rowsRead,
      rows_scored: stats.rowsScored,
      rows_rejected: stats.rowsRejected,
      chunks: stats.chunks,
    });
  }, logger);
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
      await runBatchOnce(
        {
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
          stopping: control.stopped,
          retry: { attempts: options.retryAttempts, delayMs: durationMs(options.retryDelay) },
          onRetry: () => metrics?.retried(),
        },
        stats,
      );
      // A file sink merges its committed parts into the target file. Partition workers share
      // the target, so they leave the merge to `mldeploy batch merge` once all have finished.
      if (options.partition === undefined && isMergeable(sink)) await sink.finalize();
    } finally {
      await sink.close();
    }
  } catch (error) {
    stopHeartbeat();
    // Best effort: the registry may be as unreachable as what failed the run.
    await recordRun(run, stats, { [REASON_TAG]: errorText(error).slice(0, 1000) }).catch(
      () => undefined,
    );
    await run.end("FAILED").catch(() => undefined);
    throw error;
  } finally {
    stopHeartbeat();
    await source?.close().catch(() => undefined);
    await predictor.close();
  }
  await recordRun(run, stats);
  await run.end(stats.stopped ? "KILLED" : "FINISHED");
  logger.info(
    { job: jobId, run: run.id, ...stats },
    `scored ${stats.rowsScored} rows, rejected ${stats.rowsRejected} in ${(stats.durationMs / 1000).toFixed(1)} s` +
      (stats.stopped ? " (stopped: the next run resumes after the last committed chunk)" : ""),
  );
  return { stats, model: { name: predictor.info.name, version: predictor.info.version } };
}

/** The run's counts (what was committed) and retries, in the registry. */
async function recordRun(
  run: Awaited<ReturnType<Registry["startRun"]>>,
  stats: BatchStats,
  tags: Record<string, string> = {},
): Promise<void> {
  await run.setTags({ retries: String(stats.retries), ...tags });
  await run.logMetrics({
    rows_read: stats.rowsRead,
    rows_scored: stats.rowsScored,
    rows_rejected: stats.rowsRejected,
    chunks: stats.chunks,
    duration_s: stats.durationMs / 1000,
    rows_per_s: stats.durationMs > 0 ? (stats.rowsRead / stats.durationMs) * 1000 : 0,
  });
}

interface Mergeable {
  finalize(): Promise<unknown>;
}

function isMergeable(sink: object): sink is Mergeable {
  return "finalize" in sink && typeof sink.finalize === "function";
}

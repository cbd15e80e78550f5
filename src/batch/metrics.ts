import { Counter, Gauge, Pushgateway, Registry } from "prom-client";
import type { Logger } from "../log/logger.js";

/** How a batch run ended (the registry run's status). */
export type BatchRunStatus = "FINISHED" | "KILLED" | "FAILED";

/** What one run of a batch job did, as far as it got. */
export interface BatchRunObservation {
  status: BatchRunStatus;
  durationMs: number;
  rowsRead: number;
  rowsScored: number;
  rowsRejected: number;
  /** The model version that scored (absent when the run failed before loading it). */
  model?: { name: string; version: string };
}

export interface BatchMetrics {
  /** The batch job's metrics only: what is pushed to a Pushgateway. */
  readonly registry: Registry;
  runStarted(): void;
  /** A transient failure: the run starts again from its last committed chunk. */
  retried(): void;
  /** Rows handled so far by the run in progress. */
  progress(rows: number): void;
  runEnded(run: BatchRunObservation): void;
}

/** The Pushgateway `job` the runs are pushed under; each batch job is its own group. */
export const PUSHGATEWAY_JOB = "mldeploy_batch";

/**
 * Prometheus metrics of one batch job (label `batch_job`: `job` is the label Prometheus and the
 * Pushgateway set themselves). Counters add up the runs of a scheduled process; the
 * `last_run` gauges answer what a dashboard or alert on a batch job asks: when did it last
 * succeed, how long did it take, how many rows did it score or reject, with which model.
 */
export function createBatchMetrics(jobId: string): BatchMetrics {
  const registry = new Registry();
  const job = { batch_job: jobId };
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const runs = counter(
    "mldeploy_batch_runs_total",
    "Runs of the batch job, by status: FINISHED, KILLED (stopped after a committed chunk) or FAILED",
    ["batch_job", "status"],
  );
  const rows = counter(
    "mldeploy_batch_rows_total",
    "Source rows handled over all runs, by outcome: read, scored or rejected",
    ["batch_job", "outcome"],
  );
  const retries = counter(
    "mldeploy_batch_retries_total",
    "Times a run started again from its last committed chunk after a transient failure (connection lost, server restart)",
    ["batch_job"],
  );
  const running = gauge("mldeploy_batch_running", "1 while a run is in progress", ["batch_job"]);
  const progress = gauge(
    "mldeploy_batch_run_rows_done",
    "Rows read so far by the run in progress (or the last run)",
    ["batch_job"],
  );
  const lastRows = gauge(
    "mldeploy_batch_last_run_rows",
    "Rows of the last run, by outcome: read, scored or rejected",
    ["batch_job", "outcome"],
  );
  const lastDuration = gauge(
    "mldeploy_batch_last_run_duration_seconds",
    "Duration of the last run",
    ["batch_job"],
  );
  const lastEnd = gauge(
    "mldeploy_batch_last_run_end_timestamp_seconds",
    "When the last run ended, whatever its status (Unix time)",
    ["batch_job"],
  );
  // Registered at the first success: absent from a push, the gateway keeps the value an
  // earlier process pushed, so "time since the last success" survives a failing run.
  let lastSuccess: Gauge<"batch_job"> | undefined;
  const lastInfo = gauge(
    "mldeploy_batch_last_run_info",
    "Always 1: the last run's status and the model version that scored it",
    ["batch_job", "status", "model_name", "model_version"],
  );
  for (const outcome of ["read", "scored", "rejected"]) rows.inc({ ...job, outcome }, 0);
  running.set(job, 0);
  retries.inc(job, 0);
  return {
    registry,
    runStarted() {
      running.set(job, 1);
      progress.set(job, 0);
    },
    retried() {
      retries.inc(job);
    },
    progress(done) {
      progress.set(job, done);
    },
    runEnded(run) {
      const ended = Date.now() / 1000;
      running.set(job, 0);
      progress.set(job, run.rowsRead);
      runs.inc({ ...job, status: run.status });
      const counts = { read: run.rowsRead, scored: run.rowsScored, rejected: run.rowsRejected };
      for (const [outcome, count] of Object.entries(counts)) {
        rows.inc({ ...job, outcome }, count);
        lastRows.set({ ...job, outcome }, count);
      }
      lastDuration.set(job, run.durationMs / 1000);
      lastEnd.set(job, ended);
      if (run.status === "FINISHED") {
        lastSuccess ??= gauge(
          "mldeploy_batch_last_success_timestamp_seconds",
          "When a run last finished scoring every row it was due (Unix time)",
          ["batch_job"],
        );
        lastSuccess.set(job, ended);
      }
      lastInfo.reset();
      lastInfo.set(
        {
          ...job,
          status: run.status,
          model_name: run.model?.name ?? "",
          model_version: run.model?.version ?? "",
        },
        1,
      );
    },
  };
}

/**
 * Pushes a batch job's metrics to a Prometheus Pushgateway, into the group
 * `job="mldeploy_batch"`, `batch_job=<job name>`. A POST replaces only the metrics pushed, so
 * the last success pushed by an earlier process stays until a run succeeds again. The job
 * name goes base64url-encoded in the URL (the gateway's `@base64` form): names like
 * `rides->preds[0/4]` hold a slash.
 */
export function batchPusher(
  url: string,
  jobId: string,
  registry: Registry,
  logger: Logger,
): { push(): Promise<void> } {
  const gateway = new Pushgateway(url, { timeout: 10_000 }, registry);
  const groupings = { "batch_job@base64": Buffer.from(jobId).toString("base64url") };
  return {
    async push() {
      try {
        await gateway.pushAdd({ jobName: PUSHGATEWAY_JOB, groupings });
        logger.debug({ pushgateway: url }, "metrics pushed");
      } catch (error) {
        // Metrics are a report on the run, not part of it: the predictions are committed.
        logger.warn(
          { pushgateway: url, err: error },
          `could not push metrics to ${url}: ${(error as Error).message}`,
        );
      }
    },
  };
}

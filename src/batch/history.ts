import { hostname } from "node:os";
import type { Logger } from "../log/logger.js";
import type { Registry } from "../registry/registry.js";
import type { Run } from "../registry/store/types.js";

/**
 * Runs of batch jobs are recorded in the registry as runs of one experiment. A run's process
 * can die without ending its run (kill -9, OOM, a lost node): while it runs, the run's
 * `heartbeat` tag is renewed, and a RUNNING run whose process is gone is shown as KILLED with
 * the reason "process gone" by `batch history`, and ended so in the registry by the next run
 * of its job.
 */

/** Runs of batch jobs are recorded in this experiment (`mldeploy batch history`). */
export const BATCH_EXPERIMENT = "batch";

/** How often a running batch run renews its heartbeat tag. */
export const HEARTBEAT_MS = 15_000;
/** A RUNNING run without a heartbeat for this long is taken as gone (eight missed beats). */
export const STALE_AFTER_MS = 8 * HEARTBEAT_MS;

/** The tag that says why a run failed or was ended by another process. */
export const REASON_TAG = "failure_reason";
export const PROCESS_GONE = "process gone";

/** Tags that let another process tell whether this run's process still lives. */
export function livenessTags(now = Date.now()): Record<string, string> {
  return { heartbeat: new Date(now).toISOString(), host: hostname(), pid: String(process.pid) };
}

/** Renews the run's heartbeat until stopped; a failed renewal is only logged. */
export function startHeartbeat(
  beat: () => Promise<void>,
  logger: Logger,
  everyMs = HEARTBEAT_MS,
): () => void {
  const timer = setInterval(() => {
    beat().catch((error: unknown) =>
      logger.debug({ err: error }, "could not renew the run's heartbeat"),
    );
  }, everyMs);
  // The heartbeat never keeps a finished job's process alive.
  timer.unref();
  return () => clearInterval(timer);
}

function lastSignOfLife(run: Run): number {
  const beat = Date.parse(run.tags.heartbeat ?? "");
  return Number.isFinite(beat) ? beat : run.startTime;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A RUNNING run whose process is gone: on this host, no process has its pid; elsewhere (or
 * when its pid is unknown), its heartbeat is older than STALE_AFTER_MS.
 */
export function isGone(run: Run, now = Date.now()): boolean {
  if (run.status !== "RUNNING") return false;
  const pid = Number(run.tags.pid);
  if (run.tags.host === hostname() && Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
    if (!processAlive(pid)) return true;
  }
  return now - lastSignOfLife(run) > STALE_AFTER_MS;
}

/** Runs of batch jobs, newest first, optionally of one job; gone ones shown as KILLED. */
export async function batchRuns(
  registry: Registry,
  options: { job?: string; limit?: number } = {},
): Promise<Run[]> {
  const experiment = await registry.store.findExperimentByName(BATCH_EXPERIMENT);
  if (experiment === undefined) return [];
  const now = Date.now();
  return (await registry.store.listRuns({ experimentId: experiment.id, limit: 10_000 }))
    .filter((run) => options.job === undefined || run.tags.job === options.job)
    .slice(0, options.limit ?? 10_000)
    .map((run) =>
      isGone(run, now)
        ? {
            ...run,
            status: "KILLED" as const,
            endTime: lastSignOfLife(run),
            tags: { ...run.tags, [REASON_TAG]: PROCESS_GONE },
          }
        : run,
    );
}

/**
 * Ends the job's RUNNING runs whose process is gone as KILLED ("process gone"), at their
 * last heartbeat. Called when the job starts a run, so its history never shows a dead run
 * as RUNNING for good. Best effort: a failure here does not stop the new run.
 */
export async function endGoneRuns(registry: Registry, job: string, logger: Logger): Promise<void> {
  try {
    const experiment = await registry.store.findExperimentByName(BATCH_EXPERIMENT);
    if (experiment === undefined) return;
    const running = await registry.store.listRuns({
      experimentId: experiment.id,
      status: "RUNNING",
      limit: 10_000,
    });
    const now = Date.now();
    for (const run of running) {
      if (run.tags.job !== job || !isGone(run, now)) continue;
      await registry.store.setRunTags(run.id, { [REASON_TAG]: PROCESS_GONE });
      await registry.store.endRun(run.id, "KILLED", lastSignOfLife(run));
      logger.warn(
        { job, run: run.id, lastHeartbeat: new Date(lastSignOfLife(run)).toISOString() },
        `run ${run.id} of job ${job} stopped without ending (its process is gone): recorded as KILLED`,
      );
    }
  } catch (error) {
    logger.warn({ job, err: error }, `could not check the job's earlier runs: ${String(error)}`);
  }
}

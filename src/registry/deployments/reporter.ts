import os from "node:os";
import type { Logger } from "../../log/logger.js";
import { parseModelUri } from "../model-uri.js";
import { newId } from "../store/ids.js";
import type { DeploymentHeartbeat, DeploymentMode, DeploymentStore } from "../store/types.js";

/** How long the goodbye at shutdown may take: a registry that is down must not hold it up. */
const GOODBYE_TIMEOUT_MS = 2000;

export interface DeploymentReporterOptions {
  /** Where beats go: the registry store the process resolves its model with. */
  store: Pick<DeploymentStore, "reportDeployment" | "removeDeployment">;
  mode: DeploymentMode;
  endpoint: string;
  modelUri: string;
  modelName?: string;
  /** The version it starts on (the registry's version number as text, or a run id). */
  modelVersion?: string;
  intervalMs: number;
  /**
   * A running total of the work done (requests, events or rows), read at each beat: the rate
   * is its growth over the time since the previous beat.
   */
  count: () => number;
  logger: Logger;
}

export interface DeploymentReporter {
  readonly id: string;
  /** The process now runs `version` (an alias moved): reported at once, not at the next beat. */
  running(version: string | undefined): void;
  /** Stops beating and removes the deployment from the registry (bounded; never throws). */
  stop(): Promise<void>;
}

/**
 * Whether a model URI's deployment reports itself: the ones the registry knows the model of
 * (models:/ and runs:/). A bundle given by path or s3:// URI has no registry entry to show
 * it next to, and a serve of a local bundle must not open (or create) a registry.
 */
export function reportsHeartbeats(modelUri: string): boolean {
  try {
    const kind = parseModelUri(modelUri).kind;
    return kind !== "artifact";
  } catch {
    return false;
  }
}

/**
 * Beats every `intervalMs` with what the process runs and its rate. A beat that fails is
 * logged (warn the first time, debug while it keeps failing, info when beats get through
 * again) and never disturbs the work: the next beat simply tries again.
 */
export function startDeploymentReporter(options: DeploymentReporterOptions): DeploymentReporter {
  const { store, logger } = options;
  const startedAt = Date.now();
  const id = newId();
  let version = options.modelVersion ?? null;
  let versionSince = startedAt;
  let lastCount = options.count();
  let lastAt = performance.now();
  let failing = false;
  let stopped = false;
  let sending: Promise<void> = Promise.resolve();

  const heartbeat = (): DeploymentHeartbeat => {
    const count = options.count();
    const now = performance.now();
    const seconds = (now - lastAt) / 1000;
    const rate = seconds > 0 ? Math.max(0, count - lastCount) / seconds : 0;
    lastCount = count;
    lastAt = now;
    return {
      id,
      mode: options.mode,
      host: os.hostname(),
      pid: process.pid,
      endpoint: options.endpoint,
      modelUri: options.modelUri,
      modelName: options.modelName ?? null,
      modelVersion: version,
      versionSince,
      startedAt,
      rate: Math.round(rate * 1000) / 1000,
      intervalMs: options.intervalMs,
    };
  };
  const send = async () => {
    try {
      await store.reportDeployment(heartbeat());
      if (failing) logger.info("deployment heartbeats reach the registry again");
      failing = false;
    } catch (error) {
      const level = failing ? "debug" : "warn";
      logger[level](
        { err: error instanceof Error ? error.message : String(error) },
        "could not send a deployment heartbeat to the registry; serving goes on, the next beat tries again",
      );
      failing = true;
    }
  };
  // One beat at a time, in order: a swap's beat must not be overtaken by an older one.
  const beat = () => {
    if (stopped) return;
    sending = sending.then(send);
  };
  beat();
  const timer = setInterval(beat, options.intervalMs);
  timer.unref();
  logger.debug({ id, intervalMs: options.intervalMs }, "reporting this deployment to the registry");

  return {
    id,
    running(next) {
      const value = next ?? null;
      if (value === version) return;
      version = value;
      versionSince = Date.now();
      beat();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      const goodbye = sending.then(() => store.removeDeployment(id));
      const timeout = new Promise<"late">((resolve) =>
        setTimeout(() => resolve("late"), GOODBYE_TIMEOUT_MS).unref(),
      );
      try {
        if ((await Promise.race([goodbye, timeout])) === "late") {
          logger.debug("the registry did not take the deployment's goodbye in time");
        }
      } catch (error) {
        logger.debug(
          { err: error instanceof Error ? error.message : String(error) },
          "could not remove this deployment from the registry; it drops out once its beats stop",
        );
      }
    },
  };
}

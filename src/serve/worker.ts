/**
 * Entry point of a cluster worker (forked by cluster.ts with its assignment in the environment):
 * loads the model, listens on the shared port and drains when the primary or a signal says so.
 */
import cluster from "node:cluster";
import { UserError } from "../config/errors.js";
import { createLogger } from "../log/logger.js";
import { clusterMetricsRenderer } from "./cluster-metrics.js";
import {
  HANDLED_MESSAGE_TYPE,
  RELOAD_FAILED_MESSAGE_TYPE,
  SHUTDOWN_MESSAGE,
  STARTUP_FAILED_MESSAGE_TYPE,
  SWAP_MESSAGE_TYPE,
  SWAPPED_MESSAGE_TYPE,
  WORKER_ENV,
  type HandledMessage,
  type StartupFailedMessage,
  type SwapMessage,
  type SwappedMessage,
  type WorkerAssignment,
} from "./cluster.js";
import { startServing } from "./one-process.js";

async function main(): Promise<void> {
  const raw = process.env[WORKER_ENV];
  if (!cluster.isWorker || raw === undefined)
    throw new Error(`worker.js is started by the serve primary (${WORKER_ENV} is not set)`);
  const { options, models } = JSON.parse(raw) as WorkerAssignment;
  const logger = createLogger({
    level: options.logLevel,
    format: options.logFormat,
    base: { worker: cluster.worker?.id },
  });
  const instance = await startServing(options, models, {
    logger,
    announce: false,
    renderMetrics: (registry) => clusterMetricsRenderer(registry),
  });
  logger.debug(
    { url: instance.url, loadMs: Math.round(instance.models.current.info.loadMs) },
    "worker ready",
  );

  // The primary reports the service's rate to the registry from every worker's count, sent at
  // least twice per beat.
  if (options.heartbeatIntervalMs > 0) {
    let sent = -1;
    const report = setInterval(
      () => {
        const count = instance.handled();
        if (count === sent || !process.connected) return;
        sent = count;
        process.send?.({ type: HANDLED_MESSAGE_TYPE, count } satisfies HandledMessage);
      },
      Math.max(100, Math.min(1000, options.heartbeatIntervalMs / 2)),
    );
    report.unref();
  }

  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.debug({ reason }, "worker draining");
    instance.close().then(
      (clean) => process.exit(clean ? 0 : 1),
      (error: unknown) => {
        logger.error({ err: error }, "worker shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("message", (message: unknown) => {
    if (typeof message !== "object" || message === null) return;
    const type = (message as { type?: unknown }).type;
    if (type === SHUTDOWN_MESSAGE.type) stop("primary");
    else if (type === SWAP_MESSAGE_TYPE && !stopping) {
      const { model, index, generation } = message as SwapMessage;
      // The primary restarts workers on a version only once one of them loaded it.
      void instance.swap(model, index).then((loaded) => {
        const answer: SwappedMessage = { type: SWAPPED_MESSAGE_TYPE, index, generation, loaded };
        if (process.connected) process.send?.(answer);
      });
    } else if (type === RELOAD_FAILED_MESSAGE_TYPE) instance.countFailedReload();
  });
  // Ctrl-C reaches the whole process group; the primary's own message follows and is ignored.
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // An orphaned worker (primary killed) must not keep the port.
  process.on("disconnect", () => stop("primary gone"));
}

main().catch((error: unknown) => {
  const { message, code, syscall, address, port } = error as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
  };
  const failed: StartupFailedMessage = {
    type: STARTUP_FAILED_MESSAGE_TYPE,
    error: {
      message: String(message ?? error),
      userError: error instanceof UserError,
      code,
      syscall,
      address,
      port,
    },
  };
  // The primary reports it, in one line: N workers must not print N stacks for one bad model.
  if (process.send && process.connected) process.send(failed, () => process.exit(1));
  else {
    createLogger().error({ err: error }, "worker failed to start");
    process.exit(1);
  }
});

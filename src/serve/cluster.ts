import cluster, { type Worker } from "node:cluster";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import { serveClusterMetrics } from "../metrics/cluster-metrics.js";
import type { ServeOptions } from "./options.js";
import type { ResolvedModel } from "./single.js";

/** Environment variable carrying a worker's assignment (options and resolved model) as JSON. */
export const WORKER_ENV = "MLDEPLOY_SERVE_WORKER";
/** IPC message from the primary asking a worker to drain and exit. */
export const SHUTDOWN_MESSAGE = { type: "mldeploy:shutdown" } as const;
/** IPC message from a worker that failed to start, just before it exits: why. */
export const STARTUP_FAILED_MESSAGE_TYPE = "mldeploy:startup-failed";

export interface StartupFailedMessage {
  type: typeof STARTUP_FAILED_MESSAGE_TYPE;
  /**
   * The error's message; whether it was a user mistake (a UserError, shown as one line); for a
   * port that cannot be bound, Node's fields for it.
   */
  error: {
    message: string;
    userError: boolean;
    code?: string;
    syscall?: string;
    address?: string;
    port?: number;
  };
}

/** IPC message from the primary asking a worker to serve another model version. */
export const SWAP_MESSAGE_TYPE = "mldeploy:swap";
export interface SwapMessage {
  type: typeof SWAP_MESSAGE_TYPE;
  model: ResolvedModel;
  /** Which served model it replaces (0: the default). */
  index: number;
}

export interface WorkerAssignment {
  options: ServeOptions;
  /** The default model first. */
  models: ResolvedModel[];
}

export interface ClusterHandle {
  url: string;
  /** Drains every worker (each finishes its in-flight requests) and resolves when all exited. */
  close(): Promise<void>;
  /** Resolves with the exit code the process should end with once the cluster stopped by itself. */
  stopped: Promise<number>;
  /**
   * Tells every worker to serve `model` in place of model number `index` (each keeps its
   * current one if loading fails); restarted workers start on it.
   */
  swap(model: ResolvedModel, index: number): void;
}

const RESTART_WINDOW_MS = 60_000;

function workerScript(): string {
  const script = fileURLToPath(new URL("./worker.js", import.meta.url));
  if (!existsSync(script)) {
    throw new Error(
      `cluster mode needs the compiled worker (${script} is missing): run \`npm run build\`, or serve with workers = 1`,
    );
  }
  return script;
}

/**
 * The primary of `workers > 1`: forks workers that each load the model and share the port
 * (node:cluster hands out connections round-robin), restarts crashed ones up to
 * maxWorkerRestarts a minute, and drains them all on close.
 */
export async function startCluster(
  options: ServeOptions,
  models: ResolvedModel[],
  logger: Logger,
): Promise<ClusterHandle> {
  cluster.setupPrimary({ exec: workerScript() });
  if (options.metrics) serveClusterMetrics();
  const assigned = [...models];
  const assignment = () => ({
    [WORKER_ENV]: JSON.stringify({ options, models: assigned } satisfies WorkerAssignment),
  });

  let shuttingDown = false;
  let started = false;
  const restarts: number[] = [];
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });

  const exited = new Map<number, Promise<void>>();
  const fork = (): Worker => {
    const worker = cluster.fork(assignment());
    exited.set(worker.id, new Promise((resolve) => worker.once("exit", () => resolve())));
    worker.once("exit", (code, signal) => {
      exited.delete(worker.id);
      if (shuttingDown || !started) return;
      logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, "worker died");
      const now = Date.now();
      while (restarts.length && now - restarts[0] > RESTART_WINDOW_MS) restarts.shift();
      if (restarts.length >= options.maxWorkerRestarts) {
        logger.fatal(
          { restarts: restarts.length, maxWorkerRestarts: options.maxWorkerRestarts },
          "workers keep dying; stopping",
        );
        void close().then(() => resolveStopped(1));
        return;
      }
      restarts.push(now);
      fork();
    });
    return worker;
  };

  const closeAll = async () => {
    shuttingDown = true;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) worker.send(SHUTDOWN_MESSAGE);
    }
    const all = Promise.all(exited.values());
    // Workers cut their own connections after shutdownTimeoutMs; the margin covers model release.
    const deadline = new Promise<"late">((resolve) =>
      setTimeout(() => resolve("late"), options.shutdownTimeoutMs + 5000).unref(),
    );
    if ((await Promise.race([all, deadline])) === "late") {
      logger.error("workers did not exit in time; killing them");
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      await all;
    }
  };
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= closeAll());

  const port = await new Promise<number>((resolve, reject) => {
    let listening = 0;
    const onListening = (_worker: Worker, address: { port: number }) => {
      if (++listening === options.workers) {
        cluster.off("listening", onListening);
        cluster.off("exit", onEarlyExit);
        cluster.off("message", onMessage);
        resolve(address.port);
      }
    };
    const failures = new Map<number, StartupFailedMessage["error"]>();
    const onMessage = (worker: Worker, message: unknown) => {
      const failed = message as Partial<StartupFailedMessage> | null;
      if (failed?.type === STARTUP_FAILED_MESSAGE_TYPE && failed.error) {
        failures.set(worker.id, failed.error);
      }
    };
    // A worker that dies before listening failed to load the model or bind the port:
    // restarting it would fail the same way, so startup fails, with the worker's reason.
    const onEarlyExit = (worker: Worker, code: number, signal: string) => {
      cluster.off("listening", onListening);
      cluster.off("exit", onEarlyExit);
      cluster.off("message", onMessage);
      const failure = failures.get(worker.id);
      const error = failure?.userError
        ? new UserError(failure.message)
        : failure
          ? Object.assign(new Error(`worker ${worker.id} failed to start: ${failure.message}`), {
              code: failure.code,
              syscall: failure.syscall,
              address: failure.address,
              port: failure.port,
            })
          : new Error(
              `worker ${worker.id} exited during startup (code ${code}${signal ? `, signal ${signal}` : ""}); see its log above`,
            );
      void close().then(() => reject(error));
    };
    cluster.on("listening", onListening);
    cluster.on("exit", onEarlyExit);
    cluster.on("message", onMessage);
    for (let i = 0; i < options.workers; i++) fork();
  });
  started = true;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const swap = (next: ResolvedModel, index: number) => {
    assigned[index] = next;
    const message: SwapMessage = { type: SWAP_MESSAGE_TYPE, model: next, index };
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) worker.send(message);
    }
  };
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close,
    stopped,
    swap,
  };
}

import cluster, { type Worker } from "node:cluster";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import { serveClusterMetrics } from "./cluster-metrics.js";
import type { ServeOptions } from "./options.js";
import type { ResolvedModel } from "./one-process.js";

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
  /** Increases with every swap the primary asks for, so late answers can be told apart. */
  generation: number;
}

/** IPC message from a worker once it tried a swap: whether the version now serves. */
export const SWAPPED_MESSAGE_TYPE = "mldeploy:swapped";
export interface SwappedMessage {
  type: typeof SWAPPED_MESSAGE_TYPE;
  index: number;
  generation: number;
  loaded: boolean;
}

/** IPC message from the primary: a version could not be fetched (count a failed reload). */
export const RELOAD_FAILED_MESSAGE_TYPE = "mldeploy:reload-failed";
export interface ReloadFailedMessage {
  type: typeof RELOAD_FAILED_MESSAGE_TYPE;
}

/**
 * IPC message from a worker, every second while heartbeats are on: the predictions it let in
 * since it started (the primary sums the workers' growth into the deployment's rate).
 */
export const HANDLED_MESSAGE_TYPE = "mldeploy:handled";
export interface HandledMessage {
  type: typeof HANDLED_MESSAGE_TYPE;
  count: number;
}

export interface WorkerAssignment {
  options: ServeOptions;
  /** The default model first. */
  models: ResolvedModel[];
}

export interface ClusterHandle {
  url: string;
  /** Where the gRPC service listens (host:port), when --grpc-port is set. */
  grpcAddress?: string;
  /** Drains every worker (each finishes its in-flight requests) and resolves when all exited. */
  close(): Promise<void>;
  /** Resolves with the exit code the process should end with once the cluster stopped by itself. */
  stopped: Promise<number>;
  /**
   * Tells every worker to serve `model` in place of model number `index` (each keeps its
   * current one if loading fails). Restarted workers start on the version a worker last
   * loaded, never on one that no worker could load. Resolves whether a worker loaded it.
   */
  swap(model: ResolvedModel, index: number): Promise<boolean>;
  /** Has every worker count a failed reload (a version whose files could not be fetched). */
  reloadFailed(): void;
  /** Predictions the workers let in since start, as far as they reported (HandledMessage). */
  handled(): number;
}

const RESTART_WINDOW_MS = 60_000;
/** Longest wait between restarts once workers keep dying while others serve. */
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * A message to a worker that may be dying: isConnected() stays true until its end of the pipe
 * is seen closed, and a send() without a callback turns the write's EPIPE into an unhandled
 * 'error' event that kills the primary. The worker's exit is handled where it is observed.
 */
function tell(worker: Worker, message: object): void {
  worker.send(message, undefined, undefined, () => {});
}

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
 * (node:cluster hands out connections round-robin), restarts crashed ones (at once up to
 * maxWorkerRestarts a minute, then with a growing delay), and drains them all on close. It
 * stops by itself only when no worker is left serving and restarts keep failing.
 */
export async function startCluster(
  options: ServeOptions,
  models: ResolvedModel[],
  logger: Logger,
): Promise<ClusterHandle> {
  cluster.setupPrimary({ exec: workerScript() });
  if (options.metrics) serveClusterMetrics();
  // What a worker starts on: the versions some worker confirmed it serves. `requested` is the
  // last version asked for, which a worker started meanwhile is told to try once listening.
  const confirmed = models.map((model) => ({ model, generation: 0 }));
  const requested = models.map((model) => ({ model, generation: 0 }));
  let generation = 0;
  const assignment = () => ({
    [WORKER_ENV]: JSON.stringify({
      options,
      models: confirmed.map((each) => each.model),
    } satisfies WorkerAssignment),
  });
  const listening = new Set<number>();

  let shuttingDown = false;
  let started = false;
  const restarts: number[] = [];
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });

  const exited = new Map<number, Promise<void>>();
  // Swaps in progress: the workers yet to answer, and what to tell the caller.
  const awaiting = new Map<number, { workers: Set<number>; resolve: (loaded: boolean) => void }>();
  const answered = (workerId: number, done: number, loaded: boolean) => {
    const swap = awaiting.get(done);
    if (!swap || !swap.workers.delete(workerId)) return;
    if (loaded || swap.workers.size === 0) {
      awaiting.delete(done);
      swap.resolve(loaded);
    }
  };
  let restartDelayMs = 1000;
  const restart = () => {
    const now = Date.now();
    while (restarts.length && now - restarts[0] > RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length < options.maxWorkerRestarts) {
      restarts.push(now);
      fork();
      return;
    }
    if (listening.size === 0) {
      logger.fatal(
        { restarts: restarts.length, maxWorkerRestarts: options.maxWorkerRestarts },
        "no worker is serving and restarted workers keep dying; stopping",
      );
      void close().then(() => resolveStopped(1));
      return;
    }
    // Others still serve: the service stays up, and this worker comes back later.
    logger.error(
      { restarts: restarts.length, serving: listening.size, retryInMs: restartDelayMs },
      `workers keep dying; ${listening.size} still serving, restarting the next one in ${restartDelayMs} ms`,
    );
    setTimeout(() => {
      if (shuttingDown) return;
      restarts.push(Date.now());
      fork();
    }, restartDelayMs).unref();
    restartDelayMs = Math.min(restartDelayMs * 2, MAX_RESTART_DELAY_MS);
  };
  const fork = (): Worker => {
    const worker = cluster.fork(assignment());
    const startedOn = confirmed.map((each) => each.generation);
    exited.set(worker.id, new Promise((resolve) => worker.once("exit", () => resolve())));
    worker.once("listening", () => {
      listening.add(worker.id);
      if (!started) return;
      restartDelayMs = 1000;
      // A swap asked for while it was starting: it tries the version too.
      requested.forEach(({ model, generation: wanted }, index) => {
        if (wanted > startedOn[index] && worker.isConnected()) {
          tell(worker, {
            type: SWAP_MESSAGE_TYPE,
            model,
            index,
            generation: wanted,
          } satisfies SwapMessage);
        }
      });
    });
    worker.on("message", (message: unknown) => {
      const swapped = message as Partial<SwappedMessage> | null;
      if (swapped?.type !== SWAPPED_MESSAGE_TYPE) return;
      const { index, generation: done, loaded } = swapped as SwappedMessage;
      answered(worker.id, done, loaded);
      const wanted = requested[index];
      if (loaded && wanted.generation === done && confirmed[index].generation < done) {
        confirmed[index] = { ...wanted };
      }
    });
    worker.once("exit", (code, signal) => {
      exited.delete(worker.id);
      listening.delete(worker.id);
      for (const [done] of awaiting) answered(worker.id, done, false);
      if (shuttingDown || !started) return;
      const failure = startupFailures.get(worker.id);
      startupFailures.delete(worker.id);
      if (failure) {
        logger.error(
          { worker: worker.id, pid: worker.process.pid, code, error: failure.message },
          `worker ${worker.id} failed to start: ${failure.message}`,
        );
      } else {
        logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, "worker died");
      }
      restart();
    });
    return worker;
  };
  // Why a worker could not start, sent by the worker before it exits (it logs no stack itself).
  const startupFailures = new Map<number, StartupFailedMessage["error"]>();
  // Each worker's last reported count; the total only grows (a restarted worker starts at 0).
  const handledBy = new Map<number, number>();
  let handledTotal = 0;
  cluster.on("message", (worker, message: unknown) => {
    const failed = message as Partial<StartupFailedMessage> | null;
    if (failed?.type === STARTUP_FAILED_MESSAGE_TYPE && failed.error) {
      startupFailures.set(worker.id, failed.error);
    }
    const handled = message as Partial<HandledMessage> | null;
    if (handled?.type === HANDLED_MESSAGE_TYPE && typeof handled.count === "number") {
      handledTotal += Math.max(0, handled.count - (handledBy.get(worker.id) ?? 0));
      handledBy.set(worker.id, handled.count);
    }
  });

  const closeAll = async () => {
    shuttingDown = true;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) tell(worker, SHUTDOWN_MESSAGE);
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
    let httpPort = 0;
    const onListening = (_worker: Worker, address: { port: number }) => {
      // With gRPC on, each worker listens twice: HTTP first, then gRPC (one-process.ts); it
      // has started once the second is bound.
      const grpc = options.grpcPort > 0 && address.port === options.grpcPort;
      if (!grpc) httpPort = address.port;
      if (options.grpcPort > 0 && !grpc) return;
      if (++listening === options.workers) {
        cluster.off("listening", onListening);
        cluster.off("exit", onEarlyExit);
        resolve(httpPort);
      }
    };
    // A worker that dies before listening failed to load the model or bind the port:
    // restarting it would fail the same way, so startup fails, with the worker's reason.
    const onEarlyExit = (worker: Worker, code: number, signal: string) => {
      cluster.off("listening", onListening);
      cluster.off("exit", onEarlyExit);
      // The worker sends its reason, then exits: on a busy machine the exit can be seen before
      // the message is read. The IPC channel closes after the messages sent before it, so wait
      // for that (briefly) before calling the exit unexplained.
      const reasonArrived = worker.isConnected()
        ? new Promise<void>((resolve) => {
            worker.once("disconnect", () => resolve());
            setTimeout(resolve, 1000).unref();
          })
        : Promise.resolve();
      void reasonArrived.then(() => failStartup(worker, code, signal));
    };
    const failStartup = (worker: Worker, code: number, signal: string) => {
      const failure = startupFailures.get(worker.id);
      const error = failure?.userError
        ? new UserError(failure.message)
        : failure
          ? Object.assign(new Error(`worker ${worker.id} failed to start: ${failure.message}`), {
              code: failure.code,
              syscall: failure.syscall,
              address: failure.address,
              port: failure.port,
            })
          : Object.assign(
              new Error(
                `worker ${worker.id} exited during startup (code ${code}${signal ? `, signal ${signal}` : ""}); see its log above`,
              ),
              { signal },
            );
      void close().then(() => reject(error));
    };
    cluster.on("listening", onListening);
    cluster.on("exit", onEarlyExit);
    for (let i = 0; i < options.workers; i++) fork();
  });
  started = true;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const swap = (next: ResolvedModel, index: number) => {
    requested[index] = { model: next, generation: ++generation };
    const message: SwapMessage = { type: SWAP_MESSAGE_TYPE, model: next, index, generation };
    const workers = new Set<number>();
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) {
        tell(worker, message);
        workers.add(worker.id);
      }
    }
    if (workers.size === 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => awaiting.set(generation, { workers, resolve }));
  };
  const reloadFailed = () => {
    const message: ReloadFailedMessage = { type: RELOAD_FAILED_MESSAGE_TYPE };
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) tell(worker, message);
    }
  };
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    ...(options.grpcPort > 0 && { grpcAddress: `${shown}:${options.grpcPort}` }),
    close,
    stopped,
    swap,
    reloadFailed,
    handled: () => handledTotal,
  };
}

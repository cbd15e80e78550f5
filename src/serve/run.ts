import cluster from "node:cluster";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../config/errors.js";
import { createLogger, decideLogFormat, type Logger } from "../log/logger.js";
import { importedModelName, servableBundle } from "../import/servable.js";
import { readBundle } from "../model/bundle.js";
import {
  reportsHeartbeats,
  startDeploymentReporter,
  type DeploymentReporter,
} from "../registry/deployments/reporter.js";
import { followModel } from "../registry/follow-model.js";
import type { DeploymentStore } from "../registry/store/types.js";
import { startCluster } from "./cluster.js";
import { parseServeOptions, type ServeOptions, type ServeOptionsInput } from "./options.js";
import { startServing, type ResolvedModel } from "./one-process.js";

/** How long a start failed by workers killed with SIGINT/SIGTERM waits to see that signal here. */
const OWN_SIGNAL_GRACE_MS = 1000;

export interface RunServeDeps {
  /**
   * Turns the `model` option into a local bundle directory. The default accepts paths and
   * file:// URIs; the CLI passes the registry's resolver for models:/, runs:/ and s3:// URIs.
   * Called once, in the primary: workers get the resolved path.
   */
  resolveModel?: (uri: string, logger: Logger) => Promise<ResolvedModel>;
  logger?: Logger;
  /** Where models imported from Python are converted to (default ./mldeploy-data/import-cache). */
  importCacheDir?: string;
  /** Drain and exit the process on SIGTERM/SIGINT (default true; tests and embedders say false). */
  handleSignals?: boolean;
  /**
   * Where the service reports itself (heartbeats for the registry's Deployments page): the
   * registry the model was resolved with, asked for once serving started; undefined = nowhere.
   */
  deploymentStore?: () => DeploymentStore | undefined;
}

export interface RunningServe {
  url: string;
  /** Where the gRPC service listens (host:port), when --grpc-port is set. */
  grpcAddress?: string;
  workers: number;
  /** Graceful stop: no new connections, in-flight requests finish, model released. */
  close(): Promise<void>;
}

export async function resolveLocalModel(uri: string): Promise<ResolvedModel> {
  if (uri.startsWith("file://")) return { path: fileURLToPath(uri) };
  if (/^[a-z][a-z0-9+.-]*:\//i.test(uri) && !/^[a-z]:[\\/]/i.test(uri)) {
    throw new UserError(
      `cannot open model URI ${uri} without a registry resolver; pass a bundle directory or file:// URI`,
    );
  }
  return { path: path.resolve(uri) };
}

/**
 * `mldeploy serve`: validates options, resolves the model, then serves it in this process
 * (workers = 1) or from a cluster of workers sharing the port. With handleSignals, SIGTERM and
 * SIGINT drain the server and exit 0 (1 if requests had to be cut after shutdownTimeoutMs).
 */
export async function runServe(
  input: ServeOptionsInput,
  deps: RunServeDeps = {},
): Promise<RunningServe> {
  const parsed = parseServeOptions(input);
  // Decided here, for the workers too: they inherit this process's stdout, and pass on the
  // primary's choice rather than each looking at the terminal again.
  const options = { ...parsed, logFormat: decideLogFormat(parsed.logFormat) };
  const logger =
    deps.logger ?? createLogger({ level: options.logLevel, format: options.logFormat });
  const resolveLocation = deps.resolveModel ?? resolveLocalModel;
  let starting = true;
  // A model from the Python world is converted here, in the primary, once (and cached): the
  // workers, and a later swap, get a bundle directory.
  const resolve = async (uri: string, log: Logger): Promise<ResolvedModel> => {
    const resolved = await resolveLocation(uri, log);
    const bundle = await servableBundle(resolved.path, {
      features: options.feature,
      output: options.output,
      cacheDir: deps.importCacheDir,
      uri,
      logger: log,
    });
    // Check the bundles served at start here, so a bad model is one clear error, not N
    // crashing workers. Later versions (an alias moved) are checked by loading them: a
    // failure there keeps the old model serving and counts in mldeploy_model_reloads_total.
    if (starting) await readBundle(bundle);
    if (bundle === resolved.path) return resolved;
    return { ...resolved, path: bundle, name: resolved.name ?? importedModelName(resolved.path) };
  };
  // The default model first; a name given with the URI stays the served name across swaps.
  const wanted = [{ uri: options.model, name: options.modelName }, ...options.models];
  const models = await Promise.all(
    wanted.map(async ({ uri, name }) => ({ ...(await resolve(uri, logger)), servedName: name })),
  );
  starting = false;
  const [model] = models;
  let swapTo: (next: ResolvedModel, index: number) => Promise<unknown>;
  let countFailedReload: () => void;
  let handled: () => number;

  let running: RunningServe | undefined = undefined;
  let exitCode = 0;
  // The handlers go in before the service announces itself: a SIGTERM sent as soon as the
  // "serving" line appears (a supervisor, a quick Ctrl-C) must drain, not kill the process
  // through the default action. One that comes while starting is kept until the service runs;
  // a second one exits at once.
  let pendingSignal: NodeJS.Signals | undefined;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (running === undefined) {
      if (pendingSignal) process.exit(1);
      pendingSignal = signal;
      return;
    }
    if (signalled) {
      logger.warn({ signal }, "second signal: exiting without draining");
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, "shutting down: draining in-flight requests");
    running.close().then(
      () => {
        logger.info("stopped");
        process.exit(exitCode);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  if (deps.handleSignals ?? true) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  // A Ctrl-C while starting reaches the workers too (one process group), and one still loading
  // its modules dies of it before its own handlers are in: the start then fails because it was
  // asked to stop, which is the user's wish, not an error to report (with a stack).
  const unlessInterrupted = async (error: unknown): Promise<never> => {
    if (!(deps.handleSignals ?? true)) throw error;
    // The workers' deaths and this process's own signal are separate events: on a busy
    // machine the former can be seen first.
    const stopSignal = (error as { signal?: unknown }).signal;
    if (pendingSignal === undefined && (stopSignal === "SIGINT" || stopSignal === "SIGTERM")) {
      const waitUntil = Date.now() + OWN_SIGNAL_GRACE_MS;
      while (pendingSignal === undefined && Date.now() < waitUntil) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    if (pendingSignal === undefined) throw error;
    logger.info(
      { signal: pendingSignal, cause: (error as Error).message },
      "stopped while starting: nothing is served",
    );
    process.exit(0);
  };
  let runningServe: RunningServe;
  if (options.workers > 1 && cluster.isPrimary) {
    const started = performance.now();
    const handle = await startCluster(options, models, logger).catch(unlessInterrupted);
    logger.info(
      {
        model: options.modelName ?? model.name ?? path.basename(model.path),
        url: handle.url,
        ...(handle.grpcAddress && { grpc: handle.grpcAddress }),
        workers: options.workers,
        startMs: Math.round(performance.now() - started),
      },
      `serving ${model.path} with ${options.workers} workers at ${handle.url}${handle.grpcAddress ? ` and gRPC ${handle.grpcAddress}` : ""}`,
    );
    runningServe = {
      url: handle.url,
      grpcAddress: handle.grpcAddress,
      workers: options.workers,
      close: handle.close,
    };
    swapTo = (next, index) => handle.swap(next, index);
    countFailedReload = () => handle.reloadFailed();
    handled = () => handle.handled();
    void handle.stopped.then((code) => {
      if (deps.handleSignals ?? true) process.exit(code);
    });
  } else {
    const instance = await startServing(options, models, { logger }).catch(unlessInterrupted);
    swapTo = (next, index) => instance.swap(next, index);
    countFailedReload = () => instance.countFailedReload();
    handled = () => instance.handled();
    runningServe = {
      url: instance.url,
      grpcAddress: instance.grpcAddress,
      workers: 1,
      close: async () => {
        if (!(await instance.close())) exitCode = 1;
      },
    };
  }

  const reporter = startReporting(options, model, runningServe.url, handled, logger, deps);
  const stopPolling = models.map((resolved, index) =>
    resolved.movable && options.pollIntervalMs > 0
      ? followModel(wanted[index].uri, resolved, options.pollIntervalMs, {
          resolve: (uri) => resolve(uri, logger),
          swap: async (next) => {
            const loaded = await swapTo({ ...next, servedName: resolved.servedName }, index);
            // The Deployments page shows the new version as soon as it serves.
            if (index === 0 && loaded !== false) reporter?.running(next.version);
            return loaded;
          },
          failed: () => countFailedReload(),
          logger,
        })
      : () => {},
  );
  const closeServing = runningServe.close;
  runningServe.close = async () => {
    for (const stop of stopPolling) stop();
    await reporter?.stop();
    await closeServing();
  };

  running = runningServe;
  if (pendingSignal) onSignal(pendingSignal);
  return runningServe;
}

/**
 * Heartbeats of the service (one for the whole cluster, from the primary, the workers' rates
 * summed) when its default model comes from the registry and heartbeats are on.
 */
function startReporting(
  options: ServeOptions,
  model: ResolvedModel,
  url: string,
  handled: () => number,
  logger: Logger,
  deps: RunServeDeps,
): DeploymentReporter | undefined {
  if (options.heartbeatIntervalMs === 0 || !reportsHeartbeats(options.model)) return undefined;
  const store = deps.deploymentStore?.();
  if (store === undefined) return undefined;
  return startDeploymentReporter({
    store,
    mode: "serve",
    endpoint: reachableUrl(url, options.host),
    modelUri: options.model,
    modelName: model.name,
    modelVersion: model.version,
    intervalMs: options.heartbeatIntervalMs,
    count: handled,
    logger,
  });
}

/** Listening on every interface: others reach the service by this machine's name. */
function reachableUrl(url: string, host: string): string {
  if (host !== "0.0.0.0" && host !== "::") return url;
  const parsed = new URL(url);
  parsed.hostname = os.hostname();
  return parsed.origin;
}

/**
 * The one-process server: loads the models, builds the app, listens, swaps models and shuts
 * down (each cluster worker runs one: see worker.ts).
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "../log/logger.js";
import type { RenderedMetrics } from "./cluster-metrics.js";
import { createServeMetrics } from "./metrics.js";
import { openPredictionLog } from "../monitor/prediction-log/writer.js";
import { DEFAULT_DATA_DIR, defaultPredictionLogDir } from "../monitor/prediction-log/options.js";
import { loadPredictor } from "../model/predictor.js";
import type { Predictor } from "../model/types.js";
import type { ServeOptions } from "./options.js";
import { buildServingApp, type ServingApp } from "./server.js";
import type { ServedModelHolder } from "./served-model.js";
import { startGrpcServer, type GrpcServing } from "./grpc/server.js";

/** A model location already turned into a local bundle directory (registry URIs resolved). */
export interface ResolvedModel {
  path: string;
  name?: string;
  version?: string;
  /** The URI can point at another version later (a registry alias): serve polls it. */
  movable?: boolean;
  /** The name to serve it under instead of `name` (--model-name, or name= in --models). */
  servedName?: string;
}

/** A listening server in this process. */
export interface ServeInstance {
  app: FastifyInstance;
  /** The default model's holder. */
  models: ServedModelHolder;
  url: string;
  /** Where the gRPC service listens (host:port), when --grpc-port is set. */
  grpcAddress?: string;
  /**
   * Loads `model` and serves it from now on in place of model number `index` (0: the default);
   * if it fails to load, logs it, counts it in /metrics and keeps serving the current one
   * (resolves false).
   */
  swap(model: ResolvedModel, index?: number): Promise<boolean>;
  /** Counts a failed reload decided elsewhere (the version's files could not be fetched). */
  countFailedReload(): void;
  /** Predictions (POST requests, gRPC calls) let in since start, for the heartbeat's rate. */
  handled(): number;
  /**
   * Stops accepting, lets in-flight requests finish (cutting them after shutdownTimeoutMs),
   * then releases the model. Resolves true if everything finished in time.
   */
  close(): Promise<boolean>;
}

export interface StartOptions {
  logger: Logger;
  /** Cluster workers render /metrics through the primary. */
  renderMetrics?: (registry: import("prom-client").Registry) => () => Promise<RenderedMetrics>;
  /** Log the startup line (the primary logs it instead in cluster mode). */
  announce?: boolean;
}

/**
 * Loads the models (the first is the default), builds the app and listens: one process's whole
 * share of serving.
 */
export async function startServing(
  options: ServeOptions,
  resolved: ResolvedModel[],
  start: StartOptions,
): Promise<ServeInstance> {
  const { logger } = start;
  const load = (model: ResolvedModel, index: number) =>
    loadPredictor(model.path, {
      name: model.servedName ?? model.name,
      // --model-version labels the default model only; the others keep their own.
      version: (index === 0 ? options.modelVersion : undefined) ?? model.version,
      intraOpNumThreads: options.onnxThreads,
    });
  const loading = await Promise.allSettled(resolved.map((model, i) => load(model, i)));
  const loaded = loading.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = loading.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(loaded.map((predictor) => predictor.close()));
    throw failed.reason;
  }
  const [predictor, ...moreModels] = loaded;
  const metrics = options.metrics ? createServeMetrics() : undefined;
  // Each process (each cluster worker) writes its own part files: names carry the pid.
  const predictionLog = openPredictionLog(options, {
    mode: "serve",
    defaultDir: defaultPredictionLogDir(DEFAULT_DATA_DIR),
    logger,
    registry: metrics?.registry,
  });
  let serving: ServingApp;
  try {
    serving = await buildServingApp(predictor, {
      moreModels,
      logger,
      maxBatchSize: options.maxBatchSize,
      maxBatchDelayMs: options.maxBatchDelayMs,
      maxRows: options.maxRows,
      bodyLimitBytes: options.bodyLimitBytes,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
      headersTimeoutMs: options.headersTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      maxConcurrentRequests: options.maxConcurrentRequests,
      authToken: options.authToken,
      metrics: metrics ?? false,
      renderMetrics:
        metrics && start.renderMetrics ? start.renderMetrics(metrics.registry) : undefined,
      predictionLog,
    });
  } catch (error) {
    await predictionLog?.close();
    await Promise.all(loaded.map((each) => each.close()));
    throw error;
  }
  const { app, models, holders } = serving;
  // After the last request finished and the models are released: what was queued is written.
  if (predictionLog) app.addHook("onClose", () => predictionLog.close());
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const url = listeningUrl(app, options.host);
  let grpc: GrpcServing | undefined;
  if (options.grpcPort > 0) {
    try {
      grpc = await startGrpcServer({
        host: options.host,
        port: options.grpcPort,
        maxReceiveBytes: options.bodyLimitBytes,
        plane: serving.plane,
        limit: serving.limit,
        metrics: serving.metrics,
        logger,
        authToken: options.authToken,
      });
    } catch (error) {
      await app.close();
      throw error;
    }
    // gRPC calls in flight at shutdown still need the models app.close() releases.
    const drained = grpc.drain;
    serving.beforeRelease(() => drained());
  }
  const grpcAddress = grpc && `${shownHost(options.host)}:${grpc.port}`;
  if (start.announce ?? true) {
    for (const { info } of loaded) {
      logger.info(
        {
          model: info.name,
          version: info.version,
          loadMs: Math.round(info.loadMs),
          url,
          ...(grpcAddress && { grpc: grpcAddress }),
          workers: 1,
        },
        `serving model ${info.name} version ${info.version} at ${url}${grpcAddress ? ` and gRPC ${grpcAddress}` : ""}`,
      );
    }
  }

  const swap = async (next: ResolvedModel, index = 0): Promise<boolean> => {
    const holder = holders[index];
    if (holder === undefined) throw new Error(`no model number ${index} is served`);
    const { name, version: from } = holder.current.info;
    let loaded: Predictor;
    try {
      loaded = await load(next, index);
    } catch (error) {
      // The model in service stays; the failure shows in the log and in /metrics.
      metrics?.countReload("failure");
      logger.error(
        { err: error, model: name, path: next.path, version: next.version, serving: from },
        `could not load model ${name} version ${next.version ?? next.path}; still serving version ${from}`,
      );
      return false;
    }
    await serving.swap(loaded, index);
    metrics?.countReload("success");
    logger.info(
      { from, to: loaded.info.version, loadMs: Math.round(loaded.info.loadMs) },
      `now serving model ${loaded.info.name} version ${loaded.info.version} (was ${from})`,
    );
    return true;
  };

  let closing: Promise<boolean> | undefined;
  const close = () => {
    closing ??= (async () => {
      let cut = false;
      const timer = setTimeout(() => {
        cut = true;
        logger.warn(
          { timeoutMs: options.shutdownTimeoutMs },
          "shutdown timeout: closing connections with requests in flight",
        );
        app.server.closeAllConnections();
        grpc?.cut();
      }, options.shutdownTimeoutMs);
      try {
        // Both front-ends stop taking new calls at once; app.close() waits for the gRPC calls
        // in flight (beforeRelease), drains the micro-batcher and releases the models.
        void grpc?.drain();
        await app.close();
      } finally {
        clearTimeout(timer);
      }
      return !cut;
    })();
    return closing;
  };
  const countFailedReload = () => metrics?.countReload("failure");
  const handled = () => serving.limit.admitted;
  return { app, models, url, grpcAddress, swap, countFailedReload, handled, close };
}

export function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return `http://${shownHost(host)}:${port}`;
}

/** 0.0.0.0 / :: are where we listen, not where a client connects; a usable host to show. */
export function shownHost(host: string): string {
  return host === "0.0.0.0" || host === "::"
    ? "127.0.0.1"
    : host.includes(":")
      ? `[${host}]`
      : host;
}

import type { FastifyInstance } from "fastify";
import type { Logger } from "../log/logger.js";
import type { RenderedMetrics } from "../metrics/cluster-metrics.js";
import { createServeMetrics } from "../metrics/serve-metrics.js";
import { loadPredictor } from "../model/predictor.js";
import type { Predictor } from "../model/types.js";
import type { ServeOptions } from "./options.js";
import { buildServingApp, type ServingApp } from "./server.js";
import type { ModelSlot } from "./served-model.js";

/** A model location already turned into a local bundle directory (registry URIs resolved). */
export interface ResolvedModel {
  path: string;
  name?: string;
  version?: string;
  /** The URI can point at another version later (a registry alias): serve polls it. */
  movable?: boolean;
}

/** A listening server in this process. */
export interface ServeInstance {
  app: FastifyInstance;
  models: ModelSlot;
  url: string;
  /**
   * Loads `model` and serves it from now on; if it fails to load, logs it, counts it in
   * /metrics and keeps serving the current model (resolves false).
   */
  swap(model: ResolvedModel): Promise<boolean>;
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

/** Loads the model, builds the app and listens: one process's whole share of serving. */
export async function startServing(
  options: ServeOptions,
  model: ResolvedModel,
  start: StartOptions,
): Promise<ServeInstance> {
  const { logger } = start;
  const load = (resolved: ResolvedModel) =>
    loadPredictor(resolved.path, {
      name: options.modelName ?? resolved.name,
      version: options.modelVersion ?? resolved.version,
      intraOpNumThreads: options.onnxThreads,
    });
  const predictor = await load(model);
  const metrics = options.metrics ? createServeMetrics() : undefined;
  let serving: ServingApp;
  try {
    serving = await buildServingApp(predictor, {
      logger,
      maxBatchSize: options.maxBatchSize,
      maxBatchDelayMs: options.maxBatchDelayMs,
      maxRows: options.maxRows,
      bodyLimitBytes: options.bodyLimitBytes,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
      authToken: options.authToken,
      metrics: metrics ?? false,
      renderMetrics:
        metrics && start.renderMetrics ? start.renderMetrics(metrics.registry) : undefined,
    });
  } catch (error) {
    await predictor.close();
    throw error;
  }
  const { app, models } = serving;
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const url = listeningUrl(app, options.host);
  const { info } = predictor;
  if (start.announce ?? true) {
    logger.info(
      { model: info.name, version: info.version, loadMs: Math.round(info.loadMs), url, workers: 1 },
      `serving model ${info.name} version ${info.version} at ${url}`,
    );
  }

  const swap = async (next: ResolvedModel): Promise<boolean> => {
    const from = models.current.info.version;
    let loaded: Predictor;
    try {
      loaded = await load(next);
    } catch (error) {
      // The model in service stays; the failure shows in the log and in /metrics.
      metrics?.countReload("failure");
      logger.error(
        { err: error, path: next.path, version: next.version, serving: from },
        `could not load model version ${next.version ?? next.path}; still serving version ${from}`,
      );
      return false;
    }
    await models.swap(loaded);
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
      }, options.shutdownTimeoutMs);
      try {
        // Also drains the micro-batcher and releases the model being served.
        await app.close();
      } finally {
        clearTimeout(timer);
      }
      return !cut;
    })();
    return closing;
  };
  return { app, models, url, swap, close };
}

export function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  // 0.0.0.0 / :: are where we listen, not where a client connects; show a usable URL.
  const shown =
    host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

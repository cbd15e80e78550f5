import type { FastifyInstance } from "fastify";
import type { Logger } from "../log/logger.js";
import type { RenderedMetrics } from "../metrics/cluster-metrics.js";
import { createServeMetrics } from "../metrics/serve-metrics.js";
import { loadPredictor } from "../model/predictor.js";
import type { Predictor } from "../model/types.js";
import type { ServeOptions } from "./options.js";
import { buildServer } from "./server.js";

/** A model location already turned into a local bundle directory (registry URIs resolved). */
export interface ResolvedModel {
  path: string;
  name?: string;
  version?: string;
}

/** A listening server in this process. */
export interface ServeInstance {
  app: FastifyInstance;
  predictor: Predictor;
  url: string;
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
  const predictor = await loadPredictor(model.path, {
    name: options.modelName ?? model.name,
    version: options.modelVersion ?? model.version,
    intraOpNumThreads: options.onnxThreads,
  });
  let app: FastifyInstance;
  try {
    const metrics = options.metrics ? createServeMetrics() : false;
    app = await buildServer(predictor, {
      logger,
      maxBatchSize: options.maxBatchSize,
      maxBatchDelayMs: options.maxBatchDelayMs,
      maxRows: options.maxRows,
      bodyLimitBytes: options.bodyLimitBytes,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
      metrics,
      renderMetrics:
        metrics && start.renderMetrics ? start.renderMetrics(metrics.registry) : undefined,
    });
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await predictor.close();
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
        await app.close();
      } finally {
        clearTimeout(timer);
        await predictor.close();
      }
      return !cut;
    })();
    return closing;
  };
  return { app, predictor, url, close };
}

export function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  // 0.0.0.0 / :: are where we listen, not where a client connects; show a usable URL.
  const shown =
    host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

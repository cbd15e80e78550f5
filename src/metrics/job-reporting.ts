import type { Registry } from "prom-client";
import type { Logger } from "../log/logger.js";
import { serveMetrics } from "./http.js";
import { withProcessMetrics } from "./process-metrics.js";

export interface JobReporting<M> {
  /** Absent when neither a metrics port nor a Pushgateway was asked for. */
  metrics?: M;
  /** Pushes to the Pushgateway, if any (never throws: the pusher logs its failures). */
  push(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A scheduled or one-shot job's metrics (batch, monitor): served on `metricsPort` with the
 * process's own metrics, and/or pushed to a Pushgateway after each run. Nothing is created when
 * neither is asked for.
 */
export async function startJobReporting<M extends { readonly registry: Registry }>(
  settings: { metricsPort?: number; metricsHost?: string; pushgateway?: string },
  create: () => M,
  pusherFor: (url: string, registry: Registry) => { push(): Promise<void> },
  logger: Logger,
): Promise<JobReporting<M>> {
  if (settings.metricsPort === undefined && settings.pushgateway === undefined)
    return { push: async () => {}, close: async () => {} };
  const metrics = create();
  const pusher =
    settings.pushgateway === undefined
      ? undefined
      : pusherFor(settings.pushgateway, metrics.registry);
  let served: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  if (settings.metricsPort !== undefined) {
    served = await serveMetrics(
      withProcessMetrics(metrics.registry),
      settings.metricsPort,
      settings.metricsHost,
    );
    logger.info({ metrics: served.url }, `metrics at ${served.url}`);
  }
  return {
    metrics,
    push: async () => pusher?.push(),
    close: async () => served?.close(),
  };
}

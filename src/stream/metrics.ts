import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "../log/logger.js";
import { modelReloadsCounter } from "../metrics/model-reloads.js";
import type { StreamLag, StreamSource } from "./types.js";

/** What one acknowledged batch did (the consumer loop's report). */
export interface StreamBatchObservation {
  received: number;
  predicted: number;
  deadLettered: number;
  /** From the batch's arrival to its acknowledgement. */
  ms: number;
}

export interface StreamMetrics {
  readonly registry: Registry;
  observeBatch(batch: StreamBatchObservation): void;
  /** The latest consumer lag the broker reported (see pollLag). */
  observeLag(lag: StreamLag): void;
  /** A switch to the version a followed alias moved to (on failure the old one goes on). */
  countReload(result: "success" | "failure"): void;
}

export const LAG_MESSAGES = "mldeploy_stream_lag_messages";
export const LAG_SECONDS = "mldeploy_stream_lag_seconds";

/** Prometheus metrics of a stream consumer (names follow Prometheus conventions). */
export function createStreamMetrics(): StreamMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const events = new Counter({
    name: "mldeploy_stream_events_total",
    help: "Events handled, by outcome: predicted or dead_lettered",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const received = new Counter({
    name: "mldeploy_stream_events_received_total",
    help: "Events read from the source stream",
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "mldeploy_stream_batch_size_events",
    help: "Events per micro-batch",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "mldeploy_stream_batch_seconds",
    help: "From reading a batch to acknowledging it (predict, publish, dead-letter, ack)",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const reloads = modelReloadsCounter(
    registry,
    "Attempts to switch to a new model version while consuming, by result (on failure the previous model goes on predicting)",
  );
  // Registered at their first value: an unlabelled gauge always shows a sample, and a 0 from
  // a transport that cannot tell its lag would read as "caught up".
  let lagMessages: Gauge | undefined;
  let lagSeconds: Gauge | undefined;
  return {
    registry,
    countReload(result) {
      reloads.inc({ result });
    },
    observeLag(lag) {
      if (lag.messages !== undefined) {
        lagMessages ??= new Gauge({
          name: LAG_MESSAGES,
          help: "Events in the source stream this consumer group has not acknowledged yet (broker's count)",
          registers: [registry],
        });
        lagMessages.set(lag.messages);
      }
      if (lag.behindMs !== undefined) {
        lagSeconds ??= new Gauge({
          name: LAG_SECONDS,
          help: "Age of the oldest event this consumer group has not acknowledged yet (0 = caught up)",
          registers: [registry],
        });
        lagSeconds.set(lag.behindMs / 1000);
      }
    },
    observeBatch(batch) {
      received.inc(batch.received);
      events.inc({ outcome: "predicted" }, batch.predicted);
      events.inc({ outcome: "dead_lettered" }, batch.deadLettered);
      batchSize.observe(batch.received);
      latency.observe(batch.ms / 1000);
    },
  };
}

/** How often the lag gauges are refreshed: a broker query each, so not per batch. */
export const DEFAULT_LAG_INTERVAL_MS = 5000;

/**
 * Asks the source for its lag now and every `intervalMs`, into the lag gauges. One query at a
 * time; a failure (broker away) is logged at debug and the gauges keep their last value.
 */
export function pollLag(
  source: StreamSource,
  metrics: StreamMetrics,
  options: { intervalMs?: number; logger: Logger },
): { stop(): Promise<void> } {
  if (!source.lag) return { stop: async () => {} };
  const lagOf = source.lag.bind(source);
  let running: Promise<void> | undefined;
  const refresh = () => {
    if (running) return;
    running = lagOf()
      .then(
        (lag) => {
          if (lag) metrics.observeLag(lag);
        },
        (error: unknown) => options.logger.debug({ err: error }, "consumer lag not available"),
      )
      .finally(() => (running = undefined));
  };
  refresh();
  const timer = setInterval(refresh, options.intervalMs ?? DEFAULT_LAG_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

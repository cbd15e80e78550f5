import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

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
}

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
  return {
    registry,
    observeBatch(batch) {
      received.inc(batch.received);
      events.inc({ outcome: "predicted" }, batch.predicted);
      events.inc({ outcome: "dead_lettered" }, batch.deadLettered);
      batchSize.observe(batch.received);
      latency.observe(batch.ms / 1000);
    },
  };
}

/** A bare HTTP server answering GET /metrics (a consumer has no other HTTP API to share). */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host = "0.0.0.0",
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response
        .writeHead(404, { "content-type": "application/json" })
        .end('{"error":"GET /metrics only"}');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

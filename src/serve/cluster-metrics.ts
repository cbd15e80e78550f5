import cluster from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";

/**
 * Cluster-wide /metrics. Any worker may receive the scrape (they share the port), but only the
 * primary can reach every worker, so the worker asks the primary, which gathers all workers'
 * registries with prom-client's AggregatorRegistry (counters and histograms summed) and answers.
 */

const REQUEST = "mldeploy:metrics-request";
const RESPONSE = "mldeploy:metrics-response";

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}
interface MetricsResponse {
  type: typeof RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

export interface RenderedMetrics {
  contentType: string;
  text: string;
}

function isMessage<T extends { type: string }>(message: unknown, type: T["type"]): message is T {
  return (
    typeof message === "object" && message !== null && (message as { type?: unknown }).type === type
  );
}

/** In the primary: answers workers' requests for the aggregated metrics of all workers. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) return;
    const reply = (response: Omit<MetricsResponse, "type" | "id">) => {
      if (worker.isConnected())
        worker.send({ type: RESPONSE, id: message.id, ...response } satisfies MetricsResponse);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/**
 * In a worker: exposes `registry` to the primary's aggregation and returns a function that
 * fetches the cluster-wide text through the primary.
 */
export function clusterMetricsRenderer(
  registry: Registry,
  timeoutMs = 4000,
): () => Promise<RenderedMetrics> {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener that answers the primary's requests.
  new AggregatorRegistry();
  const waiting = new Map<
    number,
    { resolve: (text: string) => void; reject: (error: Error) => void }
  >();
  let nextId = 0;
  process.on("message", (message: unknown) => {
    if (!isMessage<MetricsResponse>(message, RESPONSE)) return;
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.error !== undefined || message.text === undefined)
      pending.reject(new Error(message.error ?? "empty metrics response"));
    else pending.resolve(message.text);
  });
  return () =>
    new Promise<RenderedMetrics>((resolve, reject) => {
      const send = process.send?.bind(process);
      if (!send) {
        reject(new Error("not a cluster worker"));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`cluster metrics: the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve({ contentType: registry.contentType, text });
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      send({ type: REQUEST, id } satisfies MetricsRequest);
    });
}

/** Metrics of this process only (single-process mode). */
export function localMetricsRenderer(registry: Registry): () => Promise<RenderedMetrics> {
  return async () => ({ contentType: registry.contentType, text: await registry.metrics() });
}

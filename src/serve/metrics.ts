import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { modelReloadsCounter } from "../metrics/model-reloads.js";

export interface ServeMetricsOptions {
  /** Registry to register into; a fresh one by default so tests and several servers do not collide. */
  registry?: Registry;
  /** Also collect prom-client's process metrics (CPU, memory, event-loop lag, GC). */
  processMetrics?: boolean;
}

/** Prometheus metrics of the web service. Names follow Prometheus conventions (base units, _total). */
export interface ServeMetrics {
  readonly registry: Registry;
  /**
   * Records one finished request: HTTP (route is the route template, not the raw URL) or gRPC
   * (method "GRPC", route the full method name, status_code the gRPC status name, e.g. "OK").
   */
  observeRequest(method: string, route: string, statusCode: number | string, seconds: number): void;
  /** Records one onnxruntime call of `rows` rows by the model served as `model`. */
  observeBatch(model: string, rows: number): void;
  /** Adds rows answered with a prediction by the model served as `model`. */
  countPredictions(model: string, rows: number): void;
  /** Records the model now served; `previous` is the one it replaces (its series are removed). */
  setModelLoaded(
    model: string,
    version: string,
    loadSeconds: number,
    previous?: { name: string; version: string },
  ): void;
  /** Reports the requests in flight (read at each scrape, not counted per request). */
  trackInFlight(read: () => number): void;
  /** Counts a request turned away before it was handled. */
  countRejected(reason: "overload"): void;
  /** Counts an attempt to switch to a new model version (an alias moved). */
  countReload(result: "success" | "failure"): void;
}

// Latency buckets are dense below 10 ms: the service is expected to answer in about a
// millisecond, and the interesting question is how far the tail stretches from there.
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536];

export function createServeMetrics(options: ServeMetricsOptions = {}): ServeMetrics {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const labelNames = ["method", "route", "status_code"] as const;
  const requests = new Counter({
    name: "mldeploy_http_requests_total",
    help: "HTTP requests answered, by method, route template and status code",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "mldeploy_http_request_duration_seconds",
    help: "Time from receiving a request to sending its response, by method, route template and status code",
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const predictions = new Counter({
    name: "mldeploy_predictions_total",
    help: "Rows answered with a prediction, by served model name",
    labelNames: ["model"] as const,
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "mldeploy_batch_size_rows",
    help: "Rows per onnxruntime call (after micro-batching), by served model name",
    labelNames: ["model"] as const,
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  // Bound once per model: labels() hashes the label set, which the per-request path skips.
  const perModel = new Map<
    string,
    { predicted: ReturnType<typeof predictions.labels>; batch: ReturnType<typeof batchSize.labels> }
  >();
  const forModel = (model: string) => {
    let children = perModel.get(model);
    if (children === undefined) {
      children = { predicted: predictions.labels(model), batch: batchSize.labels(model) };
      perModel.set(model, children);
    }
    return children;
  };
  const loadTime = new Gauge({
    name: "mldeploy_model_load_seconds",
    help: "Time taken to load the served model (read the bundle, create the onnxruntime session)",
    labelNames: ["model", "version"] as const,
    // Summing load times over workers would mean nothing; the slowest worker is what matters.
    aggregator: "max",
    registers: [registry],
  });
  const serving = new Gauge({
    name: "mldeploy_serving_processes",
    help: "Processes (cluster workers) with the model loaded and serving",
    // Each worker reports 1; the cluster's sum is how many are up.
    aggregator: "sum",
    registers: [registry],
  });

  const reloads = modelReloadsCounter(
    registry,
    "Attempts to switch to a new model version while serving, by result (on failure the previous model keeps serving)",
  );

  let readInFlight = () => 0;
  new Gauge({
    name: "mldeploy_http_requests_in_flight",
    help: "POST requests (predictions) being handled now; at maxConcurrentRequests more are answered 503",
    aggregator: "sum",
    registers: [registry],
    collect() {
      this.set(readInFlight());
    },
  });
  const rejected = new Counter({
    name: "mldeploy_http_requests_rejected_total",
    help: "Requests answered 503 without being handled, by reason (overload: maxConcurrentRequests reached)",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  rejected.inc({ reason: "overload" }, 0);

  // prom-client hashes the label set on every observe; caching the bound children keeps that
  // off the per-request path (the label combinations are few: routes x status codes).
  type Bound = {
    count: ReturnType<typeof requests.labels>;
    time: ReturnType<typeof duration.labels>;
  };
  const bound = new Map<string, Bound>();

  return {
    registry,
    observeRequest(method, route, statusCode, seconds) {
      const key = `${method} ${statusCode} ${route}`;
      let children = bound.get(key);
      if (children === undefined) {
        const code = String(statusCode);
        children = {
          count: requests.labels(method, route, code),
          time: duration.labels(method, route, code),
        };
        bound.set(key, children);
      }
      children.count.inc();
      children.time.observe(seconds);
    },
    observeBatch(model, rows) {
      forModel(model).batch.observe(rows);
    },
    countPredictions(model, rows) {
      forModel(model).predicted.inc(rows);
    },
    setModelLoaded(model, version, loadSeconds, previous) {
      if (previous && (previous.name !== model || previous.version !== version)) {
        loadTime.remove({ model: previous.name, version: previous.version });
      }
      loadTime.set({ model, version }, loadSeconds);
      serving.set(1);
    },
    trackInFlight(read) {
      readInFlight = read;
    },
    countRejected(reason) {
      rejected.inc({ reason });
    },
    countReload(result) {
      reloads.inc({ result });
    },
  };
}

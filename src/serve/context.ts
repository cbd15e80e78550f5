import type { PredictionLog } from "../monitor/prediction-log/writer.js";
import type { ServeMetrics } from "./metrics.js";
import type { InputLimits } from "./records-input.js";
import type { Protocol } from "./errors.js";
import type { ServedModelHolder } from "./served-model.js";

/**
 * What the data plane (dataplane.ts) serves from: the models (read once per request: they
 * can be swapped), limits, metrics, readiness.
 */
export interface ServeContext {
  /** The default model: /predict, /invocations, /version. */
  models: ServedModelHolder;
  /** Every served model by its name (the default one too), for /v2/models/{name}. */
  byName: ReadonlyMap<string, ServedModelHolder>;
  limits: InputLimits;
  metrics: ServeMetrics | undefined;
  /** Queues each prediction for the prediction log, when it is on. */
  predictionLog?: PredictionLog;
  /** False once shutdown began: health checks then fail so load balancers stop sending. */
  isReady(): boolean;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Which protocol's error body shape the route answers with. */
    protocol?: Protocol;
  }
}

export const JSON_TYPE = "application/json; charset=utf-8";

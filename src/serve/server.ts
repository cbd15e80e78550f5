import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { UserError } from "../config/errors.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { localMetricsRenderer, type RenderedMetrics } from "./cluster-metrics.js";
import { createServeMetrics, type ServeMetrics } from "./metrics.js";
import { ModelHolder } from "../model/model-holder.js";
import type { Predictor } from "../model/types.js";
import { JSON_TYPE, type ServeContext } from "./context.js";
import type { PredictionLog } from "../monitor/prediction-log/writer.js";
import { DataPlane } from "./dataplane.js";
import { installBearerAuth } from "./auth.js";
import { decodeContentEncoding } from "./content-encoding.js";
import { SERVE_OPENAPI_PATH, serveOpenApiDocument } from "./openapi.js";
import { classifyError, errorBody, protocolStatus, RequestError } from "./errors.js";
import { ConcurrencyLimit } from "./overload.js";
import { serveOptionsSchema } from "./options.js";
import { serveModel, type ServedModelHolder } from "./served-model.js";
import { installGracefulShutdown } from "./shutdown.js";
import { mlflowRoutes } from "./mlflow/routes.js";
import { originalRoutes } from "./original/routes.js";
import { v2Routes } from "./v2/routes.js";

export interface BuildServerOptions {
  logger?: Logger;
  /** Micro-batching (see MicroBatcher); defaults as in serveOptionsSchema. */
  maxBatchSize?: number;
  maxBatchDelayMs?: number;
  maxRows?: number;
  bodyLimitBytes?: number;
  keepAliveTimeoutMs?: number;
  /** Slow clients: see serveOptionsSchema. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Overload: POST requests handled at once before answering 503 (0: no limit). */
  maxConcurrentRequests?: number;
  /** Served next to the default model, by name on the V2 routes (names must differ). */
  moreModels?: Predictor[];
  /** Require `Authorization: Bearer <token>` (see serve/auth.ts for the routes left open). */
  authToken?: string;
  /**
   * Metrics to record into; `false` disables /metrics. Defaults to a fresh registry with
   * process metrics.
   */
  metrics?: ServeMetrics | false;
  /** How /metrics renders (cluster workers aggregate through the primary); default: this registry. */
  renderMetrics?: () => Promise<RenderedMetrics>;
  /** Where each prediction is queued for the prediction log (closed by the caller). */
  predictionLog?: PredictionLog;
}

const defaults = serveOptionsSchema.pick({
  maxBatchSize: true,
  maxBatchDelayMs: true,
  maxRows: true,
  bodyLimitBytes: true,
  keepAliveTimeoutMs: true,
  headersTimeoutMs: true,
  requestTimeoutMs: true,
  maxConcurrentRequests: true,
});

/** The HTTP app and the holders of the models it answers with (swap() replaces one). */
export interface ServingApp {
  app: FastifyInstance;
  /** The default model's holder. */
  models: ServedModelHolder;
  /** Every model's holder: the default first, then moreModels in order. */
  holders: ServedModelHolder[];
  /**
   * Serves `next` in place of model number `index` (0: the default); resolves once the
   * previous model finished its calls and is closed.
   */
  swap(next: Predictor, index: number): Promise<void>;
  /** What every protocol's front-end serves from (the gRPC one uses it: see grpc/). */
  plane: DataPlane;
  /** The per-process limit on predictions in flight, shared by every protocol. */
  limit: ConcurrencyLimit;
  /** The metrics recorded into, if any. */
  metrics: ServeMetrics | undefined;
  /**
   * Runs `wait` on close before the models are released: another front-end's calls in flight
   * (gRPC) still need them.
   */
  beforeRelease(wait: () => Promise<void>): void;
}

/**
 * The HTTP app for one model: /predict, MLflow scoring, Open Inference Protocol, /metrics.
 * It does not listen. It owns the predictor (and any swapped in later): `app.close()` drains
 * the micro-batcher and releases the model.
 */
export async function buildServer(
  predictor: Predictor,
  options: BuildServerOptions = {},
): Promise<FastifyInstance> {
  return (await buildServingApp(predictor, options)).app;
}

export async function buildServingApp(
  predictor: Predictor,
  options: BuildServerOptions = {},
): Promise<ServingApp> {
  const predictors = [predictor, ...(options.moreModels ?? [])];
  checkDistinctNames(predictors);
  const settings = defaults.parse({
    maxBatchSize: options.maxBatchSize,
    maxBatchDelayMs: options.maxBatchDelayMs,
    maxRows: options.maxRows,
    bodyLimitBytes: options.bodyLimitBytes,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    maxConcurrentRequests: options.maxConcurrentRequests,
  });
  const logger = options.logger ?? silentLogger();
  const metrics = options.metrics === false ? undefined : (options.metrics ?? createServeMetrics());

  // In the HTTP server, before Fastify: a rejection must cost far less than an answer.
  const limit = new ConcurrencyLimit(settings.maxConcurrentRequests, metrics);
  const app = Fastify({
    serverFactory: limit.serverFactory,
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify would otherwise create a child logger and log two lines per request; the
    // onResponse hook below writes one line, at debug, only when debug is enabled.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (parent) => parent,
    bodyLimit: settings.bodyLimitBytes,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    ...slowClientTimeouts(settings),
    // Both done by installGracefulShutdown, without resetting a request (see there).
    return503OnClosing: false,
    forceCloseConnections: false,
    routerOptions: { ignoreTrailingSlash: true },
  });

  const batching = { maxBatchSize: settings.maxBatchSize, maxDelayMs: settings.maxBatchDelayMs };
  const holders = predictors.map((each) => new ModelHolder(serveModel(each, batching, metrics)));
  const models = holders[0];
  const swap = (next: Predictor, index: number): Promise<void> => {
    const holder = holders[index];
    if (holder === undefined) throw new Error(`no model number ${index} is served`);
    return holder.replace(serveModel(next, batching, metrics, holder.current.info));
  };
  const ctx: ServeContext = {
    models,
    // Keyed by the name at load: a swap brings a new version of the same registered model.
    byName: new Map(holders.map((holder) => [holder.current.info.name, holder])),
    limits: { maxRows: settings.maxRows },
    metrics,
    predictionLog: options.predictionLog,
    isReady: () => !closing(),
  };

  // First: a closing server turns requests away before spending anything on them (an
  // overloaded one already did, in the HTTP server: see overload.ts).
  const closing = installGracefulShutdown(app);
  // A closing server answers every request itself, with Connection: close (see shutdown.ts).
  limit.passWhile(closing);
  if (options.authToken !== undefined) installBearerAuth(app, options.authToken);
  installBodyParsers(app);
  installErrorHandling(app, logger);
  installResponseHook(app, metrics, logger);

  // Every protocol's routes parse and answer in their shape; the data plane does the rest.
  const plane = new DataPlane(ctx);
  originalRoutes(app, plane);
  mlflowRoutes(app, plane);
  v2Routes(app, plane);
  const auth = options.authToken !== undefined;
  app.get(SERVE_OPENAPI_PATH, async (_request, reply) => {
    reply.type(JSON_TYPE);
    // Built per request: a swapped-in version may take other inputs.
    return serveOpenApiDocument(models.current.info, auth, [...ctx.byName.keys()]);
  });
  if (metrics) {
    const render = options.renderMetrics ?? localMetricsRenderer(metrics.registry);
    app.get("/metrics", async (_request, reply) => {
      const { contentType, text } = await render();
      reply.type(contentType);
      return text;
    });
  }

  const waits: (() => Promise<void>)[] = [];
  app.addHook("onClose", async () => {
    await Promise.all(waits.map((wait) => wait()));
    await Promise.all(holders.map((holder) => holder.close()));
  });
  return {
    app,
    models,
    holders,
    swap,
    plane,
    limit,
    metrics,
    beforeRelease: (wait) => waits.push(wait),
  };
}

/**
 * Node's own limits on slow clients, which Fastify leaves off (requestTimeout 0): a connection
 * sending its headers or body a byte at a time is answered 408 and closed. Node checks them
 * every connectionsCheckingInterval (30 s by default), so the interval follows the timeouts.
 */
function slowClientTimeouts(settings: { headersTimeoutMs: number; requestTimeoutMs: number }) {
  const { requestTimeoutMs } = settings;
  // Node refuses a headers timeout above the request timeout: the request includes its headers.
  const headersTimeout =
    requestTimeoutMs > 0
      ? Math.min(settings.headersTimeoutMs, requestTimeoutMs)
      : settings.headersTimeoutMs;
  const connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4)));
  return {
    requestTimeout: requestTimeoutMs,
    http: { headersTimeout, requestTimeout: requestTimeoutMs, connectionsCheckingInterval },
  };
}

function checkDistinctNames(predictors: Predictor[]): void {
  const seen = new Set<string>();
  for (const { info } of predictors) {
    if (seen.has(info.name)) {
      throw new UserError(
        `two models would be served as "${info.name}": name one of them in --models (name=URI)`,
      );
    }
    seen.add(info.name);
  }
}

function installBodyParsers(app: FastifyInstance): void {
  // Our own JSON parser: plain JSON.parse is safe here because bodies are only read by key,
  // never merged into other objects (secure-json-parse's __proto__ scan would cost per request).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      done(new RequestError(400, `body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });
  // text/csv has a parser only where it is read: /invocations (mlflow/routes.ts). Bodies
  // sent with Content-Encoding gzip or deflate are decoded before any parser reads them.
  app.addHook("preParsing", decodeContentEncoding);
}

function installErrorHandling(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error, request, reply) => {
    const protocol = request.routeOptions.config.protocol ?? "predict";
    const known = classifyError(error);
    if (known) {
      logger.warn(
        { method: request.method, url: request.url, status: known.statusCode, err: known.message },
        "request rejected",
      );
      return reply
        .code(protocolStatus(protocol, known.statusCode))
        .type(JSON_TYPE)
        .send(errorBody(protocol, known.statusCode, known.message, known.field, known.row));
    }
    logger.error({ method: request.method, url: request.url, err: error }, "request failed");
    return reply
      .code(500)
      .type(JSON_TYPE)
      .send(errorBody(protocol, 500, "internal error while predicting; see the server log"));
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type(JSON_TYPE)
      .send(errorBody("predict", 404, `no route ${request.method} ${request.url.split("?")[0]}`));
  });
}

function installResponseHook(
  app: FastifyInstance,
  metrics: ServeMetrics | undefined,
  logger: Logger,
): void {
  app.addHook("onResponse", (request, reply, done) => {
    const ms = reply.elapsedTime;
    // The route template keeps the label set small whatever URLs clients send.
    metrics?.observeRequest(
      request.method,
      request.routeOptions.url ?? "unmatched",
      reply.statusCode,
      ms / 1000,
    );
    if (logger.isLevelEnabled("debug")) {
      logger.debug(
        {
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          ms: Math.round(ms * 100) / 100,
        },
        "request",
      );
    }
    done();
  });
}

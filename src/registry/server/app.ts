import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from "fastify";
import { silentLogger, type Logger } from "../../log/logger.js";
import { isApiPath, registerUiRoutes } from "../../ui/routes.js";
import { VERSION } from "../../version.js";
import { RegistryError } from "../errors.js";
import { RunSearchSyntaxError } from "../store/run-filter.js";
import type { RegistryStore } from "../store/types.js";
import { ArtifactRoots } from "./artifact-roots.js";
import { bearerChecker, isReadOnly } from "./auth.js";
import { buildOpenApiDocument, HEALTH_PATH, OPENAPI_PATH } from "./openapi.js";
import { ARTIFACT_ROUTES } from "./artifact-routes.js";
import { RawAnswer, type ServerRules } from "./route-spec.js";
import { API_ROUTES } from "./routes.js";
import { RequestValidationError } from "./validation.js";
import { API_PREFIX, httpStatusOf, INTERNAL_ERROR_CODE, type ErrorBody } from "../wire.js";

export interface RegistryServerOptions {
  /** When set, every route but /health requires `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * With a token: reads (GET, HEAD and read-only POSTs such as /runs/search, see auth.ts)
   * without an Authorization header are answered, writes still need the token. A header that is present is always checked (a wrong token is refused,
   * never ignored). No effect without a token.
   */
  publicRead?: boolean;
  logger?: Logger;
  /**
   * Largest request body. Large enough for a metrics batch of ~100 000 points: the client
   * sends a logMetrics call as one request so that the batch stays all-or-nothing.
   */
  bodyLimitBytes?: number;
  /**
   * Where clients may point a model version's `source` or an experiment's artifact location,
   * besides the store's own artifact root: directories, file:// or s3://bucket[/prefix].
   */
  allowedArtifactRoots?: readonly string[];
  /** Accept any artifact location (no root check): for tests and embedders that check elsewhere. */
  anyArtifactLocation?: boolean;
  /**
   * Also serve the web UI's static files at `/` (src/ui/routes.ts). The pages carry no data:
   * they are served without a token, and their API calls send the one the user enters.
   */
  ui?: boolean;
}

export { DEFAULT_BODY_LIMIT_BYTES } from "./options.js";
import { DEFAULT_BODY_LIMIT_BYTES } from "./options.js";

/** A route as Fastify registered it: `GET /api/v1/runs/:id`. */
export interface RegisteredRoute {
  method: string;
  url: string;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route the app registered (HEAD routes Fastify adds for GETs included). */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}

/**
 * The registry's JSON REST API over a registry store, tracking and model registry (see
 * routes.ts and the OpenAPI document at /api/v1/openapi.json). It does not listen and does not
 * own the store: the caller listens, and closes the store after `app.close()`.
 */
export async function buildRegistryServer(
  store: RegistryStore,
  options: RegistryServerOptions = {},
): Promise<FastifyInstance> {
  if (options.token === "") throw new Error("registry server token must not be empty");
  const logger = options.logger ?? silentLogger();
  const rules: ServerRules = { artifactRoots: artifactRootsOf(store, options) };
  if (options.anyArtifactLocation !== true) {
    logger.info(
      { artifactRoots: rules.artifactRoots.shown },
      "clients may point artifacts under these roots only",
    );
  }
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request at debug (onResponse below) instead of Fastify's two at info.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (parent) => parent,
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // Fastify's default (100 characters) would turn a long model name or metric key into "no
    // route": names go up to 256 characters, and percent-encoding can triple a metric key.
    routerOptions: { maxParamLength: 2048 },
  });

  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });

  installJsonParser(app);
  installErrorHandling(app, logger);
  if (options.token !== undefined) {
    installAuth(app, options.token, {
      publicUi: options.ui === true,
      publicRead: options.publicRead === true,
    });
  }
  installRequestLog(app, logger);

  for (const route of ALL_ROUTES) {
    app.route({
      method: route.method,
      url: `${API_PREFIX}${route.path}`,
      handler: async (request, reply) => {
        const result = await route.run(
          store,
          {
            params: request.params,
            query: request.query,
            body: request.body,
            headers: request.headers,
          },
          rules,
        );
        reply.code(route.status);
        if (result instanceof RawAnswer) return reply.headers(result.headers).send(result.body);
        return route.status === 204 ? reply.send() : result;
      },
    });
  }

  const document = openApiDocument(
    options.token === undefined ? "none" : options.publicRead === true ? "writes" : "all",
  );
  app.get(OPENAPI_PATH, async () => document);
  app.get(HEALTH_PATH, async () => ({ status: "ok", version: VERSION }));
  if (options.ui === true) await registerUiRoutes(app, { logger });
  return app;
}

/** The store's own artifact root (SQL stores have one) and the allowed ones. */
function artifactRootsOf(store: RegistryStore, options: RegistryServerOptions): ArtifactRoots {
  if (options.anyArtifactLocation === true) return ArtifactRoots.any();
  const own = (store as { artifactRoot?: unknown }).artifactRoot;
  return ArtifactRoots.of([
    ...(typeof own === "string" ? [own] : []),
    ...(options.allowedArtifactRoots ?? []),
  ]);
}

/** The store's operations, then the reads of run artifacts for the web UI. */
const ALL_ROUTES = [...API_ROUTES, ...ARTIFACT_ROUTES];

// The document depends only on the (fixed) route table and which requests need a token:
// built once per process, not per server (tests start many).
type TokenNeeded = "none" | "all" | "writes";
const documents = new Map<TokenNeeded, Record<string, unknown>>();
function openApiDocument(needed: TokenNeeded): Record<string, unknown> {
  let document = documents.get(needed);
  if (document === undefined) {
    document = buildOpenApiDocument(ALL_ROUTES, needed !== "none", {
      publicRead: needed === "writes",
    });
    documents.set(needed, document);
  }
  return document;
}

function installJsonParser(app: FastifyInstance): void {
  // JSON only. Our parser rather than Fastify's so that malformed JSON answers in the API's
  // error format, and an empty body reads as "no body" (then the route's schema decides).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        new RegistryError("INVALID_VALUE", `body is not valid JSON: ${(error as Error).message}`),
        undefined,
      );
    }
  });
}

function installAuth(
  app: FastifyInstance,
  token: string,
  open: { publicUi: boolean; publicRead: boolean },
): void {
  const check = bearerChecker(token);
  app.addHook("onRequest", async (request) => {
    // Load balancers and orchestrators probe /health without credentials.
    if (request.routeOptions.url === HEALTH_PATH) return;
    // The UI's static files hold no registry data; everything under /api/ still needs the token.
    // Both the matched route and the raw path are checked, so no spelling of an API path slips by.
    const route = request.routeOptions.url;
    const apiRoute = route !== undefined && route.startsWith(API_PREFIX);
    if (open.publicUi && !apiRoute && !isApiPath(request.url)) return;
    const header = request.headers.authorization;
    // --public-read: an anonymous read is answered. A request that does send credentials has
    // them checked, so a mistyped token is refused rather than silently read-only.
    if (open.publicRead && header === undefined && readsOnly(request.method, route)) return;
    const refused = check(header);
    if (refused) throw refused;
  });
}

/** A read by its method, or a read-only POST by its matched route (unmatched: a 404 anyway). */
function readsOnly(method: string, route: string | undefined): boolean {
  if (method === "GET" || method === "HEAD") return true;
  return (
    route !== undefined &&
    route.startsWith(API_PREFIX) &&
    isReadOnly(method, route.slice(API_PREFIX.length))
  );
}

interface Answer {
  status: number;
  body: ErrorBody;
}

/** Fastify's own client errors (body too large, unsupported media type …) carry a 4xx. */
function fastifyClientStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code !== "string" || !code.startsWith("FST_")) return undefined;
  return typeof statusCode === "number" && statusCode >= 400 && statusCode < 500
    ? statusCode
    : undefined;
}

function classify(error: unknown): Answer | undefined {
  if (error instanceof RunSearchSyntaxError) {
    // The field and position travel apart from the message, for a page to mark the spot.
    const { code, message, field, position } = error;
    return { status: httpStatusOf(code), body: { error: { code, message, field, position } } };
  }
  if (error instanceof RegistryError) {
    return {
      status: httpStatusOf(error.code),
      body: { error: { code: error.code, message: error.message } },
    };
  }
  if (error instanceof RequestValidationError) {
    return {
      status: 400,
      body: { error: { code: "INVALID_VALUE", message: error.message, field: error.field } },
    };
  }
  const status = fastifyClientStatus(error);
  if (status !== undefined) {
    const message = status === 415 ? "send the body as JSON (Content-Type: application/json)" : "";
    return {
      status,
      body: { error: { code: "INVALID_VALUE", message: message || (error as Error).message } },
    };
  }
  return undefined;
}

// What serve's 401s carry too (src/serve/auth.ts): RFC 7235 wants the scheme named.
const WWW_AUTHENTICATE = 'Bearer realm="mldeploy"';

function sendError(reply: FastifyReply, answer: Answer): FastifyReply {
  if (answer.status === 401) reply.header("www-authenticate", WWW_AUTHENTICATE);
  return reply.code(answer.status).type("application/json; charset=utf-8").send(answer.body);
}

function installErrorHandling(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error, request, reply) => {
    const known = classify(error);
    if (known) {
      // A refused token is worth an operator's attention; other client mistakes are routine.
      const level = known.status === 401 ? "warn" : "debug";
      logger[level](
        {
          method: request.method,
          url: request.url,
          status: known.status,
          code: known.body.error.code,
          err: known.body.error.message,
        },
        "request rejected",
      );
      return sendError(reply, known);
    }
    // Store failures (database down, a bug) may carry SQL, paths or hosts: they go to the log,
    // the client gets a generic message.
    logger.error({ method: request.method, url: request.url, err: error }, "request failed");
    return sendError(reply, {
      status: 500,
      body: {
        error: {
          code: INTERNAL_ERROR_CODE,
          message: "the registry server failed to handle the request; see its log",
        },
      },
    });
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, {
      status: 404,
      body: {
        error: {
          code: "NOT_FOUND",
          message: `no route ${request.method} ${request.url.split("?")[0]}`,
        },
      },
    }),
  );
}

function installRequestLog(app: FastifyInstance, logger: Logger): void {
  app.addHook("onResponse", (request, reply, done) => {
    if (logger.isLevelEnabled("debug")) {
      logger.debug(
        {
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 100) / 100,
        },
        "request",
      );
    }
    done();
  });
}

import type { FastifyInstance } from "fastify";
import { bearerChecker } from "../config/bearer.js";
import { JSON_TYPE } from "./context.js";
import { errorBody } from "./errors.js";

/**
 * Routes that answer without a token: liveness and readiness probes (kubelets and load
 * balancers send no credentials) and the Prometheus scrape. Everything else, predictions and
 * model metadata included, needs it; an unknown path too, so routes are not probed for.
 */
export const OPEN_ROUTES: ReadonlySet<string> = new Set([
  "/ping",
  "/health",
  "/v2/health/live",
  "/v2/health/ready",
  "/metrics",
]);

/** Requires `Authorization: Bearer <token>`, answering 401 in the route's protocol otherwise. */
export function installBearerAuth(app: FastifyInstance, token: string): void {
  const check = bearerChecker(token);
  app.addHook("onRequest", (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && OPEN_ROUTES.has(route)) return done();
    const result = check(request.headers.authorization);
    if (result === "ok") return done();
    const message =
      result === "missing"
        ? "this server requires a token: send Authorization: Bearer <token>"
        : "the bearer token was refused";
    void reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="mldeploy"')
      .type(JSON_TYPE)
      .send(errorBody(request.routeOptions.config?.protocol ?? "predict", 401, message));
  });
}

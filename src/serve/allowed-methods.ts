import type { FastifyInstance, HTTPMethods } from "fastify";
import { JSON_TYPE } from "./context.js";
import { errorBody, type Protocol } from "./errors.js";

const METHODS: HTTPMethods[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/**
 * Answers the methods a route does not take as Flask does (Werkzeug's MethodNotAllowed, which
 * MLflow's 2.x scoring server and the original service both ran on): 405 with an Allow header
 * naming the methods it takes, OPTIONS among them (Flask adds it to every route, and HEAD to
 * every GET route); OPTIONS itself is 200 with that header and an empty body. Werkzeug lists
 * them in no fixed order; here always in this one. The 405's body is the protocol's error
 * body, not Werkzeug's HTML page.
 */
export function answerOtherMethods(
  app: FastifyInstance,
  url: string,
  method: "GET" | "POST",
  protocol: Protocol,
): void {
  const allowed: HTTPMethods[] =
    method === "GET" ? ["GET", "HEAD", "OPTIONS"] : ["POST", "OPTIONS"];
  const allow = allowed.join(", ");
  app.options(url, { config: { protocol } }, async (_request, reply) => {
    reply.header("allow", allow);
    return "";
  });
  app.route({
    method: METHODS.filter((each) => !allowed.includes(each)),
    url,
    config: { protocol },
    handler: async (request, reply) => {
      reply.code(405).header("allow", allow).type(JSON_TYPE);
      return errorBody(
        protocol,
        405,
        `method ${request.method} is not allowed on ${url}; it answers ${method}`,
      );
    },
  });
}

import type { Server } from "node:http";
import type { FastifyInstance } from "fastify";
import { JSON_TYPE } from "./context.js";
import { errorBody } from "./errors.js";

/**
 * How the HTTP side of serve shuts down, so that no request that reached it is reset:
 * - requests in flight are answered, with `Connection: close`;
 * - a request arriving on a kept-alive connection during shutdown is answered 503 with
 *   `Connection: close`, once its body is in: a socket closed with unread bytes is reset by
 *   the kernel, and the client would lose the answer (EPIPE on a 6 MB upload, not a 503);
 * - idle keep-alive connections are closed once no request is in flight, not at the signal:
 *   a client that just got its previous answer is often sending its next request on one at
 *   that very moment, and closing it then resets that request (Node's server.close() closes
 *   them at once, hence the deferral below).
 * Returns whether shutdown has begun (health checks fail from then on).
 */
export function installGracefulShutdown(app: FastifyInstance): () => boolean {
  let closing = false;
  let active = 0;
  let closeIdle: (() => void) | undefined;
  const closeIdleIfQuiet = () => {
    // Once the answer's 'close' has run, Node has detached it from its socket: the next turn.
    if (closeIdle && active === 0) setImmediate(closeIdle);
  };

  app.addHook("onRequest", (request, reply, done) => {
    active++;
    reply.raw.once("close", () => {
      active--;
      closeIdleIfQuiet();
    });
    if (!closing) {
      done();
      return;
    }
    const answer = () => {
      const protocol = request.routeOptions.config.protocol ?? "predict";
      void reply
        .code(503)
        .type(JSON_TYPE)
        .send(errorBody(protocol, 503, "the server is shutting down; retry on another instance"));
    };
    const body = request.raw;
    if (body.complete) {
      answer();
      return;
    }
    body.on("data", () => undefined);
    body.once("end", answer);
    body.resume();
  });
  // Every answer sent during shutdown is the last on its connection.
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });
  app.addHook("preClose", async () => {
    closing = true;
    closeIdle = deferIdleClose(app.server);
    closeIdleIfQuiet();
  });
  return () => closing;
}

/**
 * Keeps server.close() from closing idle connections itself; returns what closes them. Node
 * also closes those that become idle later only through this method or their keep-alive
 * timeout, so the caller calls it whenever the server is quiet.
 */
function deferIdleClose(server: Server): () => void {
  const original = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => undefined;
  return original;
}

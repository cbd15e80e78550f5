import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { FastifyServerFactory } from "fastify";
import type { ServeMetrics } from "./metrics.js";
import { JSON_TYPE } from "./context.js";
import { errorBody, type Protocol } from "./errors.js";

/** How long a client turned away is asked to wait (seconds, the Retry-After header). */
export const RETRY_AFTER_SECONDS = 1;

/**
 * At most `limit` POST requests (the predictions) in this process at once; the others are
 * answered 503 with Retry-After straight away, as Triton and KServe do, so that the accepted
 * ones keep their latency instead of every request queueing without bound. GET requests
 * (health checks, /metrics) are never turned away.
 *
 * The check runs in the HTTP server's 'request' listener, before Fastify sees the request:
 * under overload most requests are rejections, and a rejection that went through Fastify's
 * routing, hooks and reply serialisation cost nearly as much CPU as an answer, so the
 * rejections themselves filled the event loop. Here it is one precomputed write.
 *
 * The connection is kept alive and Node discards the unread body (no parsing, no buffering):
 * closing it with body bytes still arriving would make the kernel reset it, and the client
 * could lose the 503 before reading it (the same reason as in shutdown.ts).
 */
export class ConcurrencyLimit {
  private inFlight = 0;
  private admittedTotal = 0;
  private passAll: () => boolean = () => false;
  private readonly answers: Record<Protocol, Buffer>;

  constructor(
    private readonly limit: number,
    private readonly metrics: ServeMetrics | undefined,
  ) {
    metrics?.trackInFlight(() => this.inFlight);
    const message = `the server is handling its maximum of ${limit} requests at once (maxConcurrentRequests); retry later`;
    const answer = (protocol: Protocol) =>
      Buffer.from(JSON.stringify(errorBody(protocol, 503, message)));
    this.answers = { predict: answer("predict"), mlflow: answer("mlflow"), v2: answer("v2") };
  }

  /** Predictions (POST requests and gRPC calls) let in since start: the deployment's rate. */
  get admitted(): number {
    return this.admittedTotal;
  }

  /** The most predictions handled at once (0: no limit). */
  get maxInFlight(): number {
    return this.limit;
  }

  /**
   * Takes a place for a prediction arriving by another way than HTTP (gRPC), so the limit is
   * one per process whichever protocol the calls come by; false when none is free.
   */
  tryEnter(): boolean {
    if (this.limit > 0 && this.inFlight >= this.limit) return false;
    this.inFlight++;
    this.admittedTotal++;
    return true;
  }

  /** Gives back a place taken with tryEnter. */
  leave(): void {
    this.inFlight--;
  }

  /** While `pass()` holds (shutdown), every request goes on to Fastify, which answers it. */
  passWhile(pass: () => boolean): void {
    this.passAll = pass;
  }

  /** Fastify's serverFactory: the HTTP/1 server Fastify would create, with the limit in front. */
  readonly serverFactory: FastifyServerFactory = (handler, options): Server => {
    const server = createServer(
      (options.http ?? {}) as Parameters<typeof createServer>[0] & object,
      (request, response) => {
        if (this.admit(request, response)) handler(request, response);
      },
    );
    // As Fastify sets them on the server it creates itself (fastify/lib/server.js).
    server.keepAliveTimeout = options.keepAliveTimeout as number;
    server.requestTimeout = options.requestTimeout as number;
    server.setTimeout(options.connectionTimeout as number);
    return server;
  };

  private admit(request: IncomingMessage, response: ServerResponse): boolean {
    if (request.method !== "POST" || this.passAll()) return true;
    if (this.limit > 0 && this.inFlight >= this.limit) {
      this.metrics?.countRejected("overload");
      const body = this.answers[protocolOf(request.url ?? "/")];
      response.writeHead(503, {
        "content-type": JSON_TYPE,
        "content-length": body.length,
        "retry-after": String(RETRY_AFTER_SECONDS),
      });
      response.end(body);
      return false;
    }
    this.inFlight++;
    this.admittedTotal++;
    // 'close' comes once the answer is sent or the connection is gone, whichever happens.
    response.once("close", () => this.inFlight--);
    return true;
  }
}

/** The protocol whose error body a URL gets, as the routes declare it (original/, mlflow/, v2/routes.ts). */
function protocolOf(url: string): Protocol {
  if (url.startsWith("/v2/") || url === "/v2") return "v2";
  if (url.startsWith("/invocations")) return "mlflow";
  return "predict";
}

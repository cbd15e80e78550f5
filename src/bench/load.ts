import type { EventEmitter } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import autocannon from "autocannon";

export interface LoadSpec {
  url: string;
  body: string;
  contentType: string;
  connections: number;
  pipelining: number;
  durationSeconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  /** Latency percentiles in milliseconds (autocannon records whole milliseconds). */
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Answers 503 (turned away by the concurrency limit): in all, and per second. */
  rejected: number;
  rejectedPerSecond: number;
  /** p99 in milliseconds of the requests answered 2xx only (exact, from every response). */
  acceptedP99: number;
  /** The same as the server timed it, when known (an upper bound from its histogram). */
  serverAcceptedP99?: number;
}

/** One autocannon run (in this process: the load generator's share of the CPU is one core). */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const run = autocannon({
    url: spec.url,
    method: "POST",
    headers: { "content-type": spec.contentType },
    body: spec.body,
    connections: spec.connections,
    pipelining: spec.pipelining,
    duration: spec.durationSeconds,
    // Its typings omit it: without a callback, the promise is also the run's event emitter.
  }) as Promise<autocannon.Result> & EventEmitter;
  // autocannon's own histogram mixes every status; under overload the fast 503s would hide
  // how long the accepted requests took.
  const accepted: number[] = [];
  let rejected = 0;
  run.on("response", (_client: unknown, statusCode: number, _bytes: number, ms: number) => {
    if (statusCode >= 200 && statusCode < 300) accepted.push(ms);
    else if (statusCode === 503) rejected++;
  });
  const result = await run;
  accepted.sort((a, b) => a - b);
  return {
    requestsPerSecond: result["2xx"] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    rejected,
    rejectedPerSecond: rejected / result.duration,
    acceptedP99: accepted.length
      ? accepted[Math.min(accepted.length - 1, Math.floor(accepted.length * 0.99))]
      : NaN,
  };
}

export interface ClientsSpec {
  url: string;
  body: string;
  contentType: string;
  /** Clients, each on its own keep-alive connection, each with one request at a time. */
  clients: number;
  durationSeconds: number;
}

/**
 * Closed-loop clients that do what a 503's Retry-After asks (wait, then retry), as real
 * clients and load balancers do; autocannon resends at once, which makes a 503 cost as much
 * load as an answer and measures its own backlog. Latency is timed per request, 2xx apart.
 */
export async function runClients(spec: ClientsSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.clients });
  const body = Buffer.from(spec.body);
  const accepted: number[] = [];
  let rejected = 0;
  let errors = 0;
  let other = 0;
  const started = performance.now();
  const end = started + spec.durationSeconds * 1000;
  const once = () =>
    new Promise<{ status: number; retryAfter?: string }>((resolve) => {
      const request = httpRequest(
        spec.url,
        {
          method: "POST",
          agent,
          headers: { "content-type": spec.contentType, "content-length": body.length },
          timeout: 30_000,
        },
        (response) => {
          response.resume();
          response.on("end", () =>
            resolve({
              status: response.statusCode ?? 0,
              retryAfter: response.headers["retry-after"],
            }),
          );
        },
      );
      request.on("timeout", () => request.destroy(new Error("timeout")));
      request.on("error", () => resolve({ status: 0 }));
      request.end(body);
    });
  const client = async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      const { status, retryAfter } = await once();
      const ms = performance.now() - sent;
      if (status >= 200 && status < 300) accepted.push(ms);
      else if (status === 503) {
        rejected++;
        await new Promise((resolve) => setTimeout(resolve, Number(retryAfter ?? 1) * 1000));
      } else if (status === 0) errors++;
      else other++;
    }
  };
  await Promise.all(Array.from({ length: spec.clients }, client));
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  accepted.sort((a, b) => a - b);
  const at = (q: number) =>
    accepted[Math.min(accepted.length - 1, Math.floor(accepted.length * q))];
  return {
    requestsPerSecond: accepted.length / seconds,
    p50: Math.round(at(0.5) ?? NaN),
    p99: Math.round(at(0.99) ?? NaN),
    errors,
    non2xx: rejected + other,
    rejected,
    rejectedPerSecond: rejected / seconds,
    acceptedP99: at(0.99) ?? NaN,
  };
}

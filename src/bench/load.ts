import { fork } from "node:child_process";
import type { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import type { ClientsProcessSpec, ClientsReport } from "./clients.js";

export interface LoadSpec {
  url: string;
  body: string | Buffer;
  contentType: string;
  /** More request headers (e.g. Inference-Header-Content-Length of a binary V2 body). */
  headers?: Record<string, string>;
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
  /** Requests that got no answer within the run's grace period (raw clients only). */
  unanswered?: number;
  /** autocannon's request errors by code (ECONNRESET, …), when there were any. */
  errorKinds?: Record<string, number>;
  /** The server's CPU seconds per answered request during the run, where /proc tells it. */
  serverCpuPerRequest?: number;
}

/** One autocannon run (in this process: the load generator's share of the CPU is one core). */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const run = autocannon({
    url: spec.url,
    method: "POST",
    headers: { "content-type": spec.contentType, ...spec.headers },
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
  // What the errors were: a server that closes every connection (gunicorn's sync workers) has
  // the next request on it reset, which is not the same failure as a timeout.
  const errorKinds: Record<string, number> = {};
  run.on("reqError", (error: NodeJS.ErrnoException) => {
    const kind = error.code ?? error.message;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
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
    ...(Object.keys(errorKinds).length > 0 ? { errorKinds } : {}),
  };
}

export interface ClientProcessesSpec {
  url: string;
  body: string;
  contentType: string;
  /** Closed-loop clients in all, spread over the processes. */
  clients: number;
  processes: number;
  warmupSeconds: number;
  durationSeconds: number;
  retry: "honour" | "immediate";
}

/**
 * The raw-socket clients of clients.ts in `processes` processes of their own, so that the load
 * generator has its own cores and is not timed against the server's event loop or its own
 * node:http overhead. `onMeasuring` runs once every process has ended its warm-up.
 */
export async function runClientProcesses(
  spec: ClientProcessesSpec,
  onMeasuring?: () => Promise<void>,
): Promise<LoadResult> {
  const url = new URL(spec.url);
  const script = fileURLToPath(new URL("./clients.js", import.meta.url));
  let measuring = 0;
  let measuringDone: Promise<void> = Promise.resolve();
  const reports = await Promise.all(
    Array.from({ length: spec.processes }, (_, i) => {
      const share =
        Math.floor(spec.clients / spec.processes) + (i < spec.clients % spec.processes ? 1 : 0);
      const childSpec: ClientsProcessSpec = {
        host: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        body: spec.body,
        contentType: spec.contentType,
        clients: share,
        warmupSeconds: spec.warmupSeconds,
        durationSeconds: spec.durationSeconds,
        retry: spec.retry,
      };
      const child = fork(script, [JSON.stringify(childSpec)], { stdio: "inherit" });
      return new Promise<ClientsReport>((resolve, reject) => {
        child.on("message", (message: { phase: string; report?: ClientsReport }) => {
          if (message.phase === "measuring" && ++measuring === spec.processes && onMeasuring)
            measuringDone = onMeasuring();
          if (message.phase === "done" && message.report) resolve(message.report);
        });
        child.once("exit", (code) =>
          reject(new Error(`load generator process exited (code ${code}) before reporting`)),
        );
      });
    }),
  );
  await measuringDone;
  const accepted = reports.flatMap((r) => r.accepted).sort((a, b) => a - b);
  const all = reports.flatMap((r) => [...r.accepted, ...r.rejectedLatencies]).sort((a, b) => a - b);
  const rejected = reports.reduce((n, r) => n + r.rejectedLatencies.length, 0);
  const other = reports.reduce((n, r) => n + r.other, 0);
  const at = (sorted: number[], q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] : NaN;
  const seconds = spec.durationSeconds;
  return {
    requestsPerSecond: accepted.length / seconds,
    p50: at(all, 0.5),
    p99: at(all, 0.99),
    errors: reports.reduce((n, r) => n + r.errors, 0),
    non2xx: rejected + other,
    rejected,
    rejectedPerSecond: rejected / seconds,
    acceptedP99: at(accepted, 0.99),
    unanswered: reports.reduce((n, r) => n + r.unanswered, 0),
  };
}

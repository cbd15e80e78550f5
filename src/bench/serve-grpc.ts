/**
 * The gRPC scenarios of `npm run bench:serve` (src/bench/serve.ts hooks them in): ModelInfer of
 * inference.GRPCInferenceService with 1,000-row tensors as raw_input_contents (what Triton's
 * clients send), in rows/s against JSON /invocations with the same rows, and single-row
 * ModelInfer (typed contents) in req/s against /predict's.
 *
 * The load generator runs in the benchmark's process, as autocannon does for HTTP:
 * `connections` calls in flight at once (closed loop), spread over a few HTTP/2 connections
 * (node:cluster hands connections, not calls, to workers). Each request is serialised once
 * before the run and answers are not decoded during it (a fixed body, the answer's bytes
 * read, as autocannon does). The answer is checked once before the clock runs, decoded, by
 * node:http2 speaking the gRPC wire format (see call()); the load itself is h2-client.ts's raw
 * HTTP/2 frames, since node:http2's client costs more CPU a call than the server it loads (on
 * 2 shared cores it, not the server, set the figures), where autocannon's HTTP/1.1 costs less.
 *
 * The single-row comparison with /predict is like for like: the same closed-loop concurrency
 * (`connections` calls in flight against autocannon's `connections` connections, one request
 * each), the same ride, the same server defaults (micro-batching included). The connection
 * count differs by design: HTTP/2 multiplexes, so 2 connections carry the 32 calls as a gRPC
 * client's channel would, where HTTP/1.1 needs one connection per request in flight. The raw
 * client costs less CPU a call than autocannon a request (15–17 against 18–20 µs measured in
 * the bench's process, 2026-12-07), so the load generator does not hold gRPC back.
 */
import { connect, type ClientHttp2Session } from "node:http2";
import net from "node:net";
import { status as Status } from "@grpc/grpc-js";
import { inferenceService, SERVICE_NAME } from "../serve/grpc/proto.js";
import type { ModelInferRequest, ModelInferResponse } from "../serve/grpc/messages.js";
import { grpcHeaderBlock, RawH2Connection } from "./h2-client.js";
import type { LoadResult } from "./load.js";
import type { ServerProcess } from "./processes.js";

export interface GrpcScenario {
  name: string;
  start: () => Promise<ServerProcess>;
  path: string;
  body: string;
  rowsPerRequest: number;
  ceiling?: string;
  /** The scenario's own load generator (instead of autocannon). */
  serverLoad: (server: ServerProcess, seconds: number) => Promise<LoadResult>;
}

export interface GrpcBenchOptions {
  model: string;
  workers: number;
  /** The HTTP port of the service (its readiness is checked there); gRPC listens on port + 2. */
  port: number;
  rows: number;
  connections: number;
  startService: (options: Record<string, unknown>, port: number) => Promise<ServerProcess>;
  /** Names of the HTTP scenarios the gRPC ones are compared with. */
  ceilingBatch: string;
  ceiling: string;
}

export const GRPC_BATCH_PREFIX = "gRPC ModelInfer raw_input_contents";
export const GRPC_SINGLE_PREFIX = "gRPC ModelInfer single ride";

/** The benchmark's rides as a ModelInferRequest: raw little-endian tensors, or typed contents. */
function inferRequest(rows: number, raw: boolean): Buffer {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pickup = new BigInt64Array(rows);
  const dropoff = new BigInt64Array(rows);
  const distance = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    pickup[i] = BigInt(1 + Math.floor(next() * 265));
    dropoff[i] = BigInt(1 + Math.floor(next() * 265));
    distance[i] = Math.round(next() * 2000) / 100;
  }
  if (rows === 1) {
    pickup[0] = 10n;
    dropoff[0] = 50n;
    distance[0] = 40;
  }
  const tensor = (name: string, datatype: string, contents: Record<string, unknown>) => ({
    name,
    datatype,
    shape: [rows],
    ...(raw ? {} : { contents }),
  });
  const request: Partial<ModelInferRequest> = {
    model_name: "ride-duration",
    inputs: [
      tensor("PULocationID", "INT64", { int64_contents: Array.from(pickup, Number) }),
      tensor("DOLocationID", "INT64", { int64_contents: Array.from(dropoff, Number) }),
      tensor("trip_distance", "FP64", { fp64_contents: Array.from(distance) }),
    ] as ModelInferRequest["inputs"],
    ...(raw
      ? {
          raw_input_contents: [pickup, dropoff, distance].map((array) =>
            Buffer.from(array.buffer, array.byteOffset, array.byteLength),
          ),
        }
      : {}),
  };
  return inferenceService().ModelInfer.requestSerialize(request);
}

const METHOD = `/${SERVICE_NAME}/ModelInfer`;
const HEADERS = {
  ":method": "POST",
  ":path": METHOD,
  "content-type": "application/grpc",
  te: "trailers",
};

/** A gRPC message on the wire: not compressed (0), its length (4 bytes, big-endian), itself. */
function framed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** The answer of one unary call: its gRPC status and its message (unframed). */
interface Answer {
  status: number;
  message: Buffer;
}

/**
 * One unary call on an HTTP/2 session, written by hand (the gRPC wire format is a POST with
 * a framed body and grpc-status in the trailers): @grpc/grpc-js's client adds channel,
 * interceptor and metadata layers that cost the load generator more CPU per call than
 * autocannon spends on an HTTP request, and it shares the machine with the server.
 */
function call(session: ClientHttp2Session, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(HEADERS);
    const chunks: Buffer[] = [];
    let status: number | undefined;
    stream.on("response", (headers) => {
      // A Trailers-Only answer (an error) carries its status in the headers.
      if (headers["grpc-status"] !== undefined) status = Number(headers["grpc-status"]);
    });
    stream.on("trailers", (trailers) => {
      status = Number(trailers["grpc-status"]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () =>
      resolve({ status: status ?? Status.UNKNOWN, message: Buffer.concat(chunks).subarray(5) }),
    );
    stream.on("error", reject);
    stream.end(body);
  });
}

function sessions(target: string, count: number): Promise<ClientHttp2Session[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ClientHttp2Session>((resolve, reject) => {
          // Nagle off, as grpc-js's own client sets it (transport.js): node:http2's client
          // leaves it on, and small frames then wait for the server's delayed ACK.
          const [host, port] = target.split(":");
          const session = connect(`http://${target}`, {
            createConnection: () => net.connect({ host, port: Number(port), noDelay: true }),
          });
          session.once("connect", () => resolve(session));
          session.once("error", reject);
        }),
    ),
  );
}

/** Before any figure: the service answers the request with one prediction per row. */
async function checkAnswer(session: ClientHttp2Session, body: Buffer, rows: number): Promise<void> {
  const { status, message } = await call(session, body);
  const answer =
    status === Status.OK
      ? (inferenceService().ModelInfer.responseDeserialize(message) as ModelInferResponse)
      : undefined;
  const output = answer?.outputs[0];
  const values = answer?.raw_output_contents[0]
    ? answer.raw_output_contents[0].byteLength / 8
    : (output?.contents?.fp64_contents?.length ?? 0);
  if (output?.shape[0] !== rows || values !== rows)
    throw new Error(
      `gRPC ModelInfer answered status ${status}, ${JSON.stringify(output)} to ${rows} rows`,
    );
}

/**
 * The raw client's reference: the trailers of an OK answer whose message holds `rows`
 * predictions (a later call is OK when its trailers are these bytes; see h2-client.ts).
 */
async function okTrailers(
  connection: RawH2Connection,
  headerBlock: Buffer,
  body: Buffer,
  rows: number,
): Promise<Buffer> {
  let trailers: Buffer | undefined;
  // The first answer may carry an HPACK table size update: the second is the reference.
  for (let i = 0; i < 2; i++) {
    const answer = await connection.call(headerBlock, body);
    const message = answer.data.subarray(5);
    const decoded = inferenceService().ModelInfer.responseDeserialize(
      message,
    ) as ModelInferResponse;
    if (decoded.outputs[0]?.shape[0] !== rows)
      throw new Error(
        `gRPC ModelInfer (raw client) answered ${JSON.stringify(decoded.outputs[0])} to ${rows} rows`,
      );
    trailers = answer.trailers;
  }
  return trailers!;
}

/** Closed-loop calls for `seconds`: `concurrency` in flight at once over the connections. */
async function runCalls(
  open: RawH2Connection[],
  headerBlock: Buffer,
  body: Buffer,
  ok: Buffer,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const all: number[] = [];
  let errors = 0;
  let other = 0;
  const end = performance.now() + seconds * 1000;
  const loop = async (connection: RawH2Connection) => {
    while (performance.now() < end) {
      const started = performance.now();
      try {
        const { trailers } = await connection.call(headerBlock, body);
        const ms = performance.now() - started;
        all.push(ms);
        if (trailers.equals(ok)) latencies.push(ms);
        else other++;
      } catch {
        all.push(performance.now() - started);
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(open[i % open.length])));
  const at = (sorted: number[], q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] : NaN;
  latencies.sort((a, b) => a - b);
  all.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / seconds,
    p50: at(all, 0.5),
    p99: at(all, 0.99),
    errors,
    // A status other than OK is not decoded (the trailers are compared, not read).
    non2xx: other,
    rejected: 0,
    rejectedPerSecond: 0,
    acceptedP99: at(latencies, 0.99),
  };
}

/** The gRPC scenarios, each with its own load generator. */
export function grpcScenarios(options: GrpcBenchOptions): GrpcScenario[] {
  const grpcPort = options.port + 2;
  const start = () =>
    options.startService(
      { model: options.model, modelName: "ride-duration", workers: options.workers, grpcPort },
      options.port,
    );
  // Enough connections for node:cluster to spread them over the workers.
  const channelCount = Math.max(2, options.workers * 2);
  const scenario = (name: string, rows: number, raw: boolean, ceiling: string): GrpcScenario => {
    const body = framed(inferRequest(rows, raw));
    return {
      name,
      start,
      path: METHOD,
      body: "",
      rowsPerRequest: rows,
      ceiling,
      serverLoad: async (_server, seconds) => {
        // The answer checked once by node:http2 (headers and status decoded), then the load.
        const [checker] = await sessions(`127.0.0.1:${grpcPort}`, 1);
        try {
          await checkAnswer(checker, body, rows);
        } finally {
          checker.close();
        }
        const open = await Promise.all(
          Array.from({ length: channelCount }, () => RawH2Connection.open("127.0.0.1", grpcPort)),
        );
        try {
          const headerBlock = grpcHeaderBlock(`127.0.0.1:${grpcPort}`, METHOD);
          const ok = await okTrailers(open[0], headerBlock, body, rows);
          return await runCalls(open, headerBlock, body, ok, options.connections, seconds);
        } finally {
          for (const connection of open) connection.close();
        }
      },
    };
  };
  return [
    scenario(
      `${GRPC_BATCH_PREFIX}, ${options.rows} rows`,
      options.rows,
      true,
      options.ceilingBatch,
    ),
    scenario(`${GRPC_SINGLE_PREFIX}, typed contents`, 1, false, options.ceiling),
  ];
}

/** The targets for gRPC, from the medians of the run. */
export function grpcTargets(
  find: (test: (name: string) => boolean) => LoadResult | undefined,
  rows: number,
  invocations: LoadResult | undefined,
  predict: LoadResult | undefined,
): string[] {
  const fmt = (n: number, digits = 0) =>
    n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const batch = find((name) => name.startsWith(GRPC_BATCH_PREFIX));
  const single = find((name) => name.startsWith(GRPC_SINGLE_PREFIX));
  const targets: string[] = [];
  if (batch && invocations) {
    const ratio = batch.requestsPerSecond / invocations.requestsPerSecond;
    targets.push(
      `gRPC ModelInfer ${fmt(rows)}-row raw tensors >= 2x the rows/s of JSON /invocations: ${fmt(ratio, 2)}x ` +
        `(${fmt(batch.requestsPerSecond * rows)} vs ${fmt(invocations.requestsPerSecond * rows)} rows/s), ${ratio >= 2 ? "MET" : "NOT MET"}` +
        perServerCpu(batch, invocations),
    );
  }
  if (single && predict) {
    const ratio = single.requestsPerSecond / predict.requestsPerSecond;
    targets.push(
      `gRPC single-row ModelInfer >= 0.70 of /predict's req/s: ${fmt(ratio, 2)} ` +
        `(${fmt(single.requestsPerSecond)} vs ${fmt(predict.requestsPerSecond)} req/s; p99 ${fmt(single.p99, 1)} ms), ${ratio >= 0.7 ? "MET" : "NOT MET"}` +
        perServerCpu(single, predict),
    );
  }
  return targets;
}

/**
 * The same comparison per second of the server's own CPU (the load generators differ: an
 * HTTP/2 client costs the shared cores more than autocannon does).
 */
export function perServerCpu(ours: LoadResult, theirs: LoadResult): string {
  const mine = ours.serverCpuPerRequest;
  const other = theirs.serverCpuPerRequest;
  if (mine === undefined || other === undefined || !(mine > 0) || !(other > 0)) return "";
  return `; per second of server CPU: ${(other / mine).toFixed(2)}x (${Math.round(mine * 1e6)} vs ${Math.round(other * 1e6)} µs a request)`;
}

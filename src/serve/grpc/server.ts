import net from "node:net";
import { status as Status } from "@grpc/grpc-js";
import { UserError } from "../../config/errors.js";
import { H2ServerConnection, type H2Stream, type StreamListener } from "./h2/connection.js";
import { encodeHeaderBlock } from "./h2/hpack.js";
import type { RequestHead } from "./h2/request-head.js";
import {
  grpcInferenceService,
  type CallOutcome,
  type GrpcServiceOptions,
  type UnaryMethod,
} from "./service.js";
import {
  ACCEPT_ENCODING,
  encodeGrpcMessage,
  framed,
  parseTimeout,
  UnaryMessageReader,
  type CallError,
} from "./wire.js";

export interface GrpcServerOptions extends GrpcServiceOptions {
  host: string;
  port: number;
  /** Largest request message (serve's bodyLimitBytes); beyond, gRPC answers RESOURCE_EXHAUSTED. */
  maxReceiveBytes: number;
}

/** The gRPC side of serve in one process. */
export interface GrpcServing {
  /** The port bound (the one asked for). */
  port: number;
  /**
   * Graceful stop: no new calls (GOAWAY on every connection), calls in flight run to their
   * answer; resolves once all are done.
   */
  drain(): Promise<void>;
  /** Cancels the calls still running (the shutdown timeout passed). */
  cut(): void;
}

/** The connection's receive window (flow control; see startGrpcServer). */
const CONNECTION_WINDOW = 8 * 2 ** 20;
/**
 * Streams a connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS): far above what
 * a gRPC channel keeps in flight, and a bound on what one connection can make the server hold.
 */
const MAX_CONCURRENT_STREAMS = 1000;
/** SETTINGS_MAX_HEADER_LIST_SIZE: gRPC's own default metadata limit is 8 KiB (grpc core). */
const MAX_HEADER_LIST_SIZE = 16 * 1024;

/**
 * An answer's headers, and the trailers of an OK one, encoded once (HPACK without a dynamic
 * table: the same bytes for every call).
 */
const ANSWER_FIELDS: readonly (readonly [string, string])[] = [
  [":status", "200"],
  ["content-type", "application/grpc+proto"],
  ["grpc-accept-encoding", ACCEPT_ENCODING],
];
const ANSWER_HEADERS = encodeHeaderBlock(ANSWER_FIELDS);
const OK_TRAILERS = encodeHeaderBlock([
  ["grpc-status", "0"],
  ["grpc-message", "OK"],
]);

/**
 * Serves inference.GRPCInferenceService on host:port: the unary methods on HTTP/2 connections
 * of our own (h2/connection.ts), not through @grpc/grpc-js's server nor node:http2. grpc-js's
 * call, interceptor, metadata and stream-decoder layers took ~30 % of the server's CPU per call
 * (45 → 31 µs a single-row ModelInfer, an A/B of 2026-12-07), and node:http2 ~26 µs of the rest
 * (a JS Duplex a stream, header objects, nghttp2 round trips for respond, write and trailers);
 * README "Benchmarks". The service is unary only, so a call is one POST, one message each way
 * and a status in the trailers (the gRPC wire format of wire.ts).
 *
 * The port is a node:net server: Nagle's algorithm off (noDelay), as node:http does for the
 * HTTP side (with many calls in flight an answer's last small frames would otherwise wait for
 * the client's delayed ACK), and in a cluster worker a plain net listen, which node:cluster
 * shares between the workers like the HTTP port (the primary hands connections out
 * round-robin). A connection carries many calls, so a client that keeps one channel talks to
 * one worker; clients spread over workers by opening several channels.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServing> {
  const methods = grpcInferenceService(options);
  const maxReceiveBytes = options.maxReceiveBytes;
  // HTTP/2 flow control: with the protocol's 64 KiB windows, a client with many calls in
  // flight (a Triton client's 1,000-row tensors are ~24 KB a call) stalls a round trip for
  // each WINDOW_UPDATE. Larger windows let it send; what is received is read at once (and
  // each call holds at most one message, see UnaryMessageReader), so this adds no buffering.
  const settings = {
    maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
    streamWindow: Math.min(2 ** 20, Math.max(65_535, maxReceiveBytes + 5)),
    connectionWindow: CONNECTION_WINDOW,
    maxHeaderListSize: MAX_HEADER_LIST_SIZE,
    onError: (error: unknown) =>
      options.logger.error({ err: error }, "gRPC connection failed on an internal error"),
  };
  const connections = new Set<H2ServerConnection>();
  let draining = false;
  const whenEmpty: (() => void)[] = [];
  const onRequest = (stream: H2Stream, head: RequestHead) =>
    serveStream(stream, head, methods, maxReceiveBytes);

  const listener = net.createServer({ noDelay: true }, (socket) => {
    const connection = new H2ServerConnection(socket, settings, onRequest);
    connections.add(connection);
    connection.onClose(() => {
      connections.delete(connection);
      if (connections.size === 0) whenEmpty.splice(0).forEach((resolve) => resolve());
    });
    if (draining) connection.drain();
  });
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  await new Promise<void>((resolve, reject) => {
    listener.once("error", (error) =>
      reject(
        new UserError(
          `cannot serve gRPC on ${host}:${options.port} (--grpc-port): ${error.message}`,
        ),
      ),
    );
    listener.listen({ host: options.host, port: options.port }, () => resolve());
  });
  const address = listener.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  let drained: Promise<void> | undefined;
  return {
    port,
    drain: () =>
      (drained ??= new Promise<void>((resolve) => {
        draining = true;
        listener.close();
        if (connections.size === 0) return resolve();
        whenEmpty.push(resolve);
        // GOAWAY on every connection: no new streams; each closes once its calls are answered.
        for (const connection of connections) connection.drain();
      })),
    cut: () => {
      draining = true;
      listener.close();
      for (const connection of connections) connection.destroy();
    },
  };
}

/**
 * One call: the checks of the request's headers, its message read (bounded), the method, the
 * answer; a deadline (grpc-timeout) answers DEADLINE_EXCEEDED when it passes first. A stream
 * the client resets or a connection that ends drops the answer (the method still runs to its
 * end, so its place under maxConcurrentRequests is given back).
 */
function serveStream(
  stream: H2Stream,
  head: RequestHead,
  methods: Map<string, UnaryMethod>,
  maxReceiveBytes: number,
): void {
  // As grpc-js: not gRPC at all (another content type) is an HTTP error, not a gRPC status.
  const contentType = head.get("content-type");
  if (contentType === undefined || !contentType.startsWith("application/grpc"))
    return refuseHttp(stream, 415);
  if (head.method !== "POST") return refuseHttp(stream, 405);
  const path = head.path;
  const method = methods.get(path);
  const call = new UnaryCall(stream, method, maxReceiveBytes, head.get("authorization"));
  stream.listener = call;
  if (!method)
    return call.fail({
      code: Status.UNIMPLEMENTED,
      details: `The server does not implement the method ${path}`,
    });
  const messageEncoding = head.get("grpc-encoding") ?? "identity";
  if (messageEncoding !== "identity" && messageEncoding !== "gzip" && messageEncoding !== "deflate")
    return call.fail({
      code: Status.UNIMPLEMENTED,
      details: `Received message compressed with unsupported encoding "${messageEncoding}"`,
    });
  call.messageEncoding = messageEncoding;
  const timeout = head.get("grpc-timeout");
  if (timeout !== undefined) {
    const ms = parseTimeout(timeout);
    if (typeof ms !== "number") return call.fail(ms);
    call.timer = setTimeout(
      () => call.fail({ code: Status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }),
      // setTimeout's own ceiling (~24.8 days); a longer deadline never passes in practice.
      Math.min(ms, 2 ** 31 - 1),
    );
  }
}

/** Not a gRPC request: an HTTP status and nothing else. */
function refuseHttp(stream: H2Stream, status: number): void {
  stream.respond(encodeHeaderBlock([[":status", String(status)]]));
}

/**
 * A call's state, one object a call, and the stream's listener (no closures a call: this is the
 * hot path of every prediction).
 */
class UnaryCall implements StreamListener {
  answered = false;
  timer: NodeJS.Timeout | undefined;
  messageEncoding = "identity";
  private readonly reader: UnaryMessageReader;

  constructor(
    private readonly stream: H2Stream,
    private readonly method: UnaryMethod | undefined,
    maxReceiveBytes: number,
    private readonly authorization: string | undefined,
  ) {
    this.reader = new UnaryMessageReader(maxReceiveBytes);
  }

  /** The stream is over (answered, reset, or its connection gone). */
  closed(): void {
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private open(): boolean {
    return !this.answered && this.stream.open;
  }

  /**
   * Trailers-Only: the status in the only HEADERS frame; the rest of the request is dropped
   * (the connection resets the stream with NO_ERROR when the client is still sending, RFC
   * 9113 §8.1).
   */
  fail({ code, details }: CallError): void {
    if (!this.open()) return;
    this.stream.respond(
      encodeHeaderBlock([
        ...ANSWER_FIELDS,
        ["grpc-status", String(code)],
        ["grpc-message", encodeGrpcMessage(details)],
      ]),
    );
  }

  data(chunk: Buffer): void {
    if (this.answered) return;
    const error = this.reader.push(chunk);
    if (error) this.fail(error);
  }

  end(): void {
    if (!this.open() || !this.method) return;
    const { method, reader, authorization } = this;
    // An uncompressed message is at hand: straight to the method (no promise hop before it).
    const message = reader.message() ?? reader.finish(this.messageEncoding);
    const outcome = Buffer.isBuffer(message)
      ? method(message, authorization)
      : message.then((read) => (Buffer.isBuffer(read) ? method(read, authorization) : read));
    outcome
      .then((answer) => this.answer(answer))
      // The methods answer every failure with a status; this is only a last guard.
      .catch(() =>
        this.fail({ code: Status.INTERNAL, details: "internal error; see the server log" }),
      );
  }

  private answer(outcome: CallOutcome): void {
    if (!("message" in outcome)) return this.fail(outcome);
    if (!this.open()) return;
    this.stream.answer(ANSWER_HEADERS, framed(outcome.message), OK_TRAILERS);
  }
}

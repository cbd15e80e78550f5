import http2, {
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import net from "node:net";
import { status as Status } from "@grpc/grpc-js";
import { UserError } from "../../config/errors.js";
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

const {
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP_STATUS_OK,
  HTTP_STATUS_METHOD_NOT_ALLOWED,
  HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
  NGHTTP2_NO_ERROR,
} = http2.constants;

const CONTENT_TYPE = "application/grpc+proto";
/** The connection's receive window (flow control; see startGrpcServer). */
const CONNECTION_WINDOW = 8 * 2 ** 20;

/**
 * An answer's headers, and the trailers of an OK one: one object each for every call
 * (node:http2's respond and sendTrailers copy what they are given before using it).
 */
const ANSWER_HEADERS = Object.freeze({
  [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK,
  [HTTP2_HEADER_CONTENT_TYPE]: CONTENT_TYPE,
  "grpc-accept-encoding": ACCEPT_ENCODING,
});
const OK_TRAILERS = Object.freeze({ "grpc-status": "0", "grpc-message": "OK" });
/**
 * No `date` header (the gRPC protocol has none and no gRPC client reads it): node:http2 would
 * add one to every answer, one more header to map and HPACK-encode a call.
 */
const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });

// Listeners shared by every call (no closure a call): EventEmitter calls them on the stream.
function ignore(): void {}
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/**
 * Serves inference.GRPCInferenceService on host:port: the unary methods straight on
 * node:http2 (the gRPC wire format of wire.ts) rather than through @grpc/grpc-js's server,
 * whose call, interceptor, metadata and stream-decoder layers took ~30 % of the server's CPU
 * per call (an A/B with one client, 2026-12-07: 45 → 31 µs a single-row ModelInfer, 128 → 94
 * µs a 1,000-row one; README "Benchmarks"). The service is unary only, so a call is one POST,
 * one message each way and a status in the trailers.
 *
 * The port is a node:net server of our own whose connections are handed to the HTTP/2 server
 * (emit "connection"), for two reasons:
 * - Nagle's algorithm off (noDelay), as node:http does for the HTTP side: with many calls in
 *   flight on a connection an answer's last small frames would otherwise wait for the
 *   client's delayed ACK (tens of ms a call);
 * - in a cluster worker it is a plain net listen, which node:cluster shares between the
 *   workers like the HTTP port (the primary hands connections out round-robin). A connection
 *   is an HTTP/2 session carrying many calls, so a client that keeps one channel talks to one
 *   worker; clients spread over workers by opening several channels.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServing> {
  const methods = grpcInferenceService(options);
  const maxReceiveBytes = options.maxReceiveBytes;
  // HTTP/2 flow control: with the protocol's 64 KiB windows, a client with many calls in
  // flight (a Triton client's 1,000-row tensors are ~24 KB a call) stalls a round trip for
  // each WINDOW_UPDATE. Larger windows let it send; what is received is read at once (and
  // each call holds at most one message, see UnaryMessageReader), so this adds no buffering.
  const streamWindow = Math.min(2 ** 20, Math.max(65_535, maxReceiveBytes + 5));
  const h2 = http2.createServer({
    // node:http2 refuses new streams of a session holding more than this many MB of unread
    // frames; a call may hold a whole message of up to maxReceiveBytes.
    maxSessionMemory: Math.max(10, Math.ceil((4 * maxReceiveBytes) / 2 ** 20)),
    settings: { initialWindowSize: streamWindow },
  });
  const sessions = new Set<ServerHttp2Session>();
  let draining = false;
  const whenEmpty: (() => void)[] = [];
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.setLocalWindowSize(CONNECTION_WINDOW);
    // A peer's protocol error or a reset connection ends this session only.
    session.on("error", () => {});
    session.once("close", () => {
      sessions.delete(session);
      if (sessions.size === 0) whenEmpty.splice(0).forEach((resolve) => resolve());
    });
    if (draining) session.close();
  });
  h2.on("sessionError", () => {});
  h2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
    serveStream(stream, headers, methods, maxReceiveBytes),
  );

  const listener = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    h2.emit("connection", socket);
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
        if (sessions.size === 0) return resolve();
        whenEmpty.push(resolve);
        // GOAWAY on every connection: no new streams; each session closes once its calls end.
        for (const session of sessions) session.close();
      })),
    cut: () => {
      draining = true;
      listener.close();
      for (const session of sessions) session.destroy();
    },
  };
}

/** The call a stream carries, for the listeners shared by every call (see UnaryCall). */
const CALL = Symbol("mldeploy.grpcCall");
type CallStream = ServerHttp2Stream & { [CALL]?: UnaryCall };

function onCallData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.data(chunk);
}
function onCallEnd(this: CallStream): void {
  this[CALL]?.end();
}
function onCallClose(this: CallStream): void {
  this[CALL]?.done();
}

/**
 * One call: the checks of the request's headers, its message read (bounded), the method, the
 * answer; a deadline (grpc-timeout) answers DEADLINE_EXCEEDED when it passes first. A stream
 * the client resets or a session that ends drops the answer (the method still runs to its
 * end, so its place under maxConcurrentRequests is given back).
 */
function serveStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  methods: Map<string, UnaryMethod>,
  maxReceiveBytes: number,
): void {
  // A reset stream emits "error" (ERR_HTTP2_STREAM_ERROR): it ends this call only.
  stream.on("error", ignore);
  // As grpc-js: not gRPC at all (another content type) is an HTTP error, not a gRPC status.
  const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
  if (typeof contentType !== "string" || !contentType.startsWith("application/grpc"))
    return refuseHttp(stream, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE);
  if (headers[HTTP2_HEADER_METHOD] !== "POST")
    return refuseHttp(stream, HTTP_STATUS_METHOD_NOT_ALLOWED);
  const path = String(headers[HTTP2_HEADER_PATH] ?? "");
  const method = methods.get(path);
  const authorization = headers.authorization;
  const call = new UnaryCall(
    stream,
    method,
    maxReceiveBytes,
    typeof authorization === "string" ? authorization : undefined,
  );
  if (!method)
    return call.fail({
      code: Status.UNIMPLEMENTED,
      details: `The server does not implement the method ${path}`,
    });
  const encoding = headers["grpc-encoding"];
  const messageEncoding = typeof encoding === "string" ? encoding : "identity";
  if (messageEncoding !== "identity" && messageEncoding !== "gzip" && messageEncoding !== "deflate")
    return call.fail({
      code: Status.UNIMPLEMENTED,
      details: `Received message compressed with unsupported encoding "${messageEncoding}"`,
    });
  call.messageEncoding = messageEncoding;
  const timeout = headers["grpc-timeout"];
  if (typeof timeout === "string") {
    const ms = parseTimeout(timeout);
    if (typeof ms !== "number") return call.fail(ms);
    call.timer = setTimeout(
      () => call.fail({ code: Status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }),
      // setTimeout's own ceiling (~24.8 days); a longer deadline never passes in practice.
      Math.min(ms, 2 ** 31 - 1),
    );
    // Only a deadline needs the stream's end seen at once (open() sees it otherwise).
    stream.once("close", onCallClose);
  }
  (stream as CallStream)[CALL] = call;
  stream.on("data", onCallData);
  stream.once("end", onCallEnd);
}

function refuseHttp(stream: ServerHttp2Stream, status: number): void {
  stream.respond({ [HTTP2_HEADER_STATUS]: status }, { endStream: true });
  stream.resume();
}

/**
 * A call's state, one object a call: its listeners are shared functions that find it on the
 * stream (no closures a call; this is the hot path of every prediction).
 */
class UnaryCall {
  answered = false;
  timer: NodeJS.Timeout | undefined;
  messageEncoding = "identity";
  private readonly reader: UnaryMessageReader;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly method: UnaryMethod | undefined,
    maxReceiveBytes: number,
    private readonly authorization: string | undefined,
  ) {
    this.reader = new UnaryMessageReader(maxReceiveBytes);
  }

  done(): void {
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
  }

  open(): boolean {
    return !this.answered && !this.stream.destroyed && !this.stream.closed;
  }

  /** Trailers-Only: the status in the only HEADERS frame; the rest of the request is dropped. */
  fail({ code, details }: CallError): void {
    if (!this.open()) return;
    this.done();
    const { stream } = this;
    stream.respond(
      {
        ...ANSWER_HEADERS,
        "grpc-status": String(code),
        "grpc-message": encodeGrpcMessage(details),
      },
      { endStream: true },
    );
    // The rest of the request is not read: dropped as it comes, and when the client is still
    // sending, RST_STREAM(NO_ERROR) after the answer asks it to stop (RFC 9113 §8.1).
    stream.resume();
    if (!stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
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
    this.done();
    const { stream } = this;
    stream.respond(ANSWER_HEADERS, RESPOND_WITH_TRAILERS);
    stream.on("wantTrailers", sendOkTrailers);
    stream.end(framed(outcome.message));
  }
}

import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import net from "node:net";
import { deflateSync, gzipSync } from "node:zlib";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.js";
import { startServing, type ServeInstance } from "../../../src/serve/one-process.js";
import { parseServeOptions, type ServeOptionsInput } from "../../../src/serve/options.js";
import { inferenceService, SERVICE_NAME } from "../../../src/serve/grpc/proto.js";
import type { ModelInferResponse } from "../../../src/serve/grpc/messages.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { freePort } from "./free-port.js";

/**
 * The gRPC transport of src/serve/grpc/server.ts (unary calls straight on node:http2) at the
 * byte level, with a node:http2 client that writes frames the Python client of the
 * conformance tests never sends: truncated, doubled, oversized, compressed, with a
 * deadline, reset by the client mid-call. Each gets a gRPC status (never a crash, a hang or a
 * leaked place under maxConcurrentRequests), and the session keeps serving.
 */

const logger = createLogger({ level: "silent" });
const INFER = `/${SERVICE_NAME}/ModelInfer`;
const BODY_LIMIT = 4096;

const request = inferenceService().ModelInfer.requestSerialize({
  model_name: "ride-duration",
  inputs: [
    { name: "PULocationID", datatype: "INT64", shape: [1], contents: { int64_contents: [10] } },
    { name: "DOLocationID", datatype: "INT64", shape: [1], contents: { int64_contents: [50] } },
    { name: "trip_distance", datatype: "FP64", shape: [1], contents: { fp64_contents: [40] } },
  ],
});

/** A length-prefixed message: `flag` (0 plain, 1 compressed), the length, the bytes. */
function frame(message: Buffer, flag = 0, length = message.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, message]);
}

interface Answer {
  httpStatus: number;
  /** grpc-status, from the trailers or a Trailers-Only answer; undefined if none. */
  code?: number;
  /** grpc-message, percent-decoded. */
  details: string;
  body: Buffer;
}

interface Options {
  headers?: OutgoingHttpHeaders;
  /** The request body's chunks (written in order); the stream is ended after them. */
  chunks?: Buffer[];
  /** Leave the request open after the chunks (the answer must come without the end). */
  keepOpen?: boolean;
}

function call(session: ClientHttp2Session, options: Options = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": INFER,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    let httpStatus = 0;
    let code: number | undefined;
    let details = "";
    const take = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) code = Number(headers["grpc-status"]);
      if (typeof headers["grpc-message"] === "string")
        details = decodeURIComponent(headers["grpc-message"]);
    };
    const body: Buffer[] = [];
    stream.on("response", (headers) => {
      httpStatus = Number(headers[":status"]);
      take(headers);
      // The request still open: the answer is the Trailers-Only one; this side ends here.
      if (options.keepOpen && code !== undefined) stream.close();
    });
    stream.on("trailers", take);
    stream.on("data", (chunk: Buffer) => body.push(chunk));
    stream.on("close", () => {
      resolve({ httpStatus, code, details, body: Buffer.concat(body) });
    });
    stream.on("error", reject);
    for (const chunk of options.chunks ?? [frame(request)]) stream.write(chunk);
    if (!options.keepOpen) stream.end();
  });
}

function connect(
  target: string,
  onSocket?: (socket: net.Socket) => void,
): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const [host, port] = target.split(":");
    const session = http2.connect(`http://${target}`, {
      createConnection: () => {
        const socket = net.connect(Number(port), host);
        onSocket?.(socket);
        return socket;
      },
    });
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

interface Running {
  instance: ServeInstance;
  target: string;
  session: ClientHttp2Session;
}

async function serve(input: Partial<ServeOptionsInput>): Promise<Running> {
  const grpcPort = await freePort();
  const options = parseServeOptions({
    model: await rideBundlePath(),
    port: 0,
    grpcPort,
    workers: 1,
    bodyLimitBytes: BODY_LIMIT,
    ...input,
  });
  const instance = await startServing(
    options,
    [{ path: await rideBundlePath(), servedName: "ride-duration" }],
    { logger, announce: false },
  );
  const target = `127.0.0.1:${grpcPort}`;
  return { instance, target, session: await connect(target) };
}

let fast: Running;
/** Micro-batching waits 900 ms for a batch: a call stays in flight long enough to reset it. */
let slow: Running;

beforeAll(async () => {
  fast = await serve({ maxBatchDelayMs: 0.5 });
  slow = await serve({ maxBatchDelayMs: 900, maxConcurrentRequests: 1 });
}, 60_000);
afterAll(async () => {
  for (const each of [fast, slow]) {
    each?.session.close();
    await each?.instance.close();
  }
});

/** The prediction of an OK answer (its one FP64 output). */
function prediction(answer: Answer): number[] | undefined {
  const message = answer.body.subarray(5);
  const decoded = inferenceService().ModelInfer.responseDeserialize(message) as ModelInferResponse;
  return decoded.outputs[0]?.contents?.fp64_contents;
}

describe("gRPC over node:http2: framing", () => {
  it("answers a plain call with headers, one framed message and grpc-status 0 in the trailers", async () => {
    const answer = await call(fast.session);
    expect(answer).toMatchObject({ httpStatus: 200, code: Status.OK });
    expect(answer.body.readUInt32BE(1)).toBe(answer.body.length - 5);
    expect(prediction(answer)).toHaveLength(1);
  });

  it("every OK answer carries the same headers and trailers (one object each, shared by the calls), without a date", async () => {
    const headersOf = () =>
      new Promise<{ headers: Record<string, unknown>; trailers: Record<string, unknown> }>(
        (resolve, reject) => {
          const stream = fast.session.request({
            ":method": "POST",
            ":path": INFER,
            "content-type": "application/grpc",
            te: "trailers",
          });
          // The string-keyed headers (not node:http2's sensitive-headers symbol).
          const named = (received: object) => Object.fromEntries(Object.entries(received));
          let headers: Record<string, unknown> = {};
          stream.on("response", (received) => (headers = named(received)));
          stream.on("trailers", (trailers) => resolve({ headers, trailers: named(trailers) }));
          stream.on("error", reject);
          stream.resume();
          stream.end(frame(request));
        },
      );
    const answers = await Promise.all(Array.from({ length: 5 }, headersOf));
    for (const { headers, trailers } of answers) {
      expect(headers).toEqual({
        ":status": 200,
        "content-type": "application/grpc+proto",
        "grpc-accept-encoding": "identity,deflate,gzip",
      });
      expect(trailers).toEqual({ "grpc-status": "0", "grpc-message": "OK" });
    }
  });

  it("takes a gzip or deflate message (grpc-encoding) and answers the same prediction", async () => {
    const plain = prediction(await call(fast.session));
    for (const [encoding, compress] of [
      ["gzip", gzipSync],
      ["deflate", deflateSync],
    ] as const) {
      const answer = await call(fast.session, {
        headers: { "grpc-encoding": encoding },
        chunks: [frame(compress(request), 1)],
      });
      expect(answer.code, `${encoding}: ${answer.details}`).toBe(Status.OK);
      expect(prediction(answer)).toEqual(plain);
    }
  });

  it("a message split over many DATA frames is read whole", async () => {
    const whole = frame(request);
    const chunks = Array.from(whole, (byte) => Buffer.from([byte]));
    expect((await call(fast.session, { chunks })).code).toBe(Status.OK);
  });

  it("malformed framing: INTERNAL for a truncated message, a bad flag, a compressed flag without an encoding, bytes that do not inflate", async () => {
    const truncated = await call(fast.session, {
      chunks: [frame(request, 0, request.length + 10)],
    });
    expect(truncated).toMatchObject({ httpStatus: 200, code: Status.INTERNAL });
    expect(truncated.details).toContain("ended inside a message");
    const shortPrefix = await call(fast.session, { chunks: [Buffer.from([0, 0])] });
    expect(shortPrefix.code).toBe(Status.INTERNAL);
    const flag = await call(fast.session, { chunks: [frame(request, 7)] });
    expect(flag).toMatchObject({
      code: Status.INTERNAL,
      details: expect.stringContaining("flag 7"),
    });
    const identity = await call(fast.session, { chunks: [frame(request, 1)] });
    expect(identity.code).toBe(Status.INTERNAL);
    const corrupt = await call(fast.session, {
      headers: { "grpc-encoding": "gzip" },
      chunks: [frame(request, 1)],
    });
    expect(corrupt).toMatchObject({
      code: Status.INTERNAL,
      details: "Failed to decompress message",
    });
  });

  it("UNIMPLEMENTED for no message, two messages, an unknown method or an unknown grpc-encoding", async () => {
    expect((await call(fast.session, { chunks: [] })).code).toBe(Status.UNIMPLEMENTED);
    const two = await call(fast.session, { chunks: [frame(request), frame(request)] });
    expect(two.code).toBe(Status.UNIMPLEMENTED);
    const method = await call(fast.session, { headers: { ":path": `/${SERVICE_NAME}/Nope` } });
    expect(method).toMatchObject({
      code: Status.UNIMPLEMENTED,
      details: `The server does not implement the method /${SERVICE_NAME}/Nope`,
    });
    const encoding = await call(fast.session, { headers: { "grpc-encoding": "snappy" } });
    expect(encoding).toMatchObject({ code: Status.UNIMPLEMENTED });
    expect(encoding.details).toContain("snappy");
  });

  it("not gRPC: HTTP 415 for another content type, 405 for a GET", async () => {
    const json = await call(fast.session, { headers: { "content-type": "application/json" } });
    expect(json).toMatchObject({ httpStatus: 415, code: undefined });
    const get = await call(fast.session, { headers: { ":method": "GET" }, chunks: [] });
    expect(get).toMatchObject({ httpStatus: 405, code: undefined });
  });

  it("grpc-message is percent-encoded: a detail with non-ASCII text reaches the client intact", async () => {
    const message = inferenceService().ModelInfer.requestSerialize({ model_name: "modèle-€" });
    const answer = await call(fast.session, { chunks: [frame(message)] });
    expect(answer.code).toBe(Status.NOT_FOUND);
    expect(answer.details).toContain("modèle-€");
  });
});

describe("gRPC over node:http2: limits", () => {
  it("RESOURCE_EXHAUSTED as soon as a length prefix over the limit is read, without waiting for the body", async () => {
    const prefix = Buffer.from([0, 0, 0x10, 0, 0]); // 1 MiB announced, never sent
    const answer = await call(fast.session, { chunks: [prefix], keepOpen: true });
    expect(answer).toMatchObject({ httpStatus: 200, code: Status.RESOURCE_EXHAUSTED });
    expect(answer.details).toContain(`vs. ${BODY_LIMIT}`);
  });

  it("RESOURCE_EXHAUSTED for a compressed message that inflates past the limit (a zip bomb)", async () => {
    const bomb = gzipSync(Buffer.alloc(1024 * 1024));
    expect(bomb.length).toBeLessThan(BODY_LIMIT);
    const answer = await call(fast.session, {
      headers: { "grpc-encoding": "gzip" },
      chunks: [frame(bomb, 1)],
    });
    expect(answer.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("grpc-timeout: INTERNAL for a malformed value, DEADLINE_EXCEEDED when it passes; the place is given back after", async () => {
    const malformed = await call(slow.session, { headers: { "grpc-timeout": "soon" } });
    expect(malformed).toMatchObject({
      code: Status.INTERNAL,
      details: 'Invalid grpc-timeout value "soon"',
    });
    const late = await call(slow.session, { headers: { "grpc-timeout": "50m" } });
    expect(late).toMatchObject({ code: Status.DEADLINE_EXCEEDED, details: "Deadline exceeded" });
    // The prediction still runs (its batch waits 900 ms) and holds the one place until then.
    expect((await call(slow.session)).code).toBe(Status.UNAVAILABLE);
    await untilOk(slow.session);
  });
});

/** Calls until one answers OK (the slow server's place is free again); fails after 10 s. */
async function untilOk(session: ClientHttp2Session): Promise<void> {
  const end = Date.now() + 10_000;
  let last: Answer | undefined;
  while (Date.now() < end) {
    last = await call(session);
    if (last.code === Status.OK) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no OK answer within 10 s; last: ${JSON.stringify(last)}`);
}

describe("gRPC over node:http2: a client that resets its calls", () => {
  it("a stream reset mid-body or mid-prediction ends that call only: the session and the server go on", async () => {
    const { session } = slow;
    // Mid-body: the prefix and half the message, then RST_STREAM(CANCEL).
    const half = session.request({
      ":method": "POST",
      ":path": INFER,
      "content-type": "application/grpc",
    });
    half.on("error", () => {});
    half.write(frame(request).subarray(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 50));
    half.close(http2.constants.NGHTTP2_CANCEL);
    // Mid-prediction: the whole request sent, reset while its batch waits.
    const inFlight = session.request({
      ":method": "POST",
      ":path": INFER,
      "content-type": "application/grpc",
    });
    inFlight.on("error", () => {});
    inFlight.end(frame(request));
    await new Promise((resolve) => setTimeout(resolve, 200));
    inFlight.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((resolve) => inFlight.once("close", resolve));
    // The same session answers next; the cancelled prediction gives its place back once done.
    expect(session.closed || session.destroyed).toBe(false);
    await untilOk(session);
    await untilOk(session);
  });

  it("a connection dropped mid-call leaves the server serving other connections", async () => {
    let socket: net.Socket | undefined;
    const doomed = await connect(slow.target, (raw) => (socket = raw));
    const stream = doomed.request({
      ":method": "POST",
      ":path": INFER,
      "content-type": "application/grpc",
    });
    stream.on("error", () => {});
    doomed.on("error", () => {});
    stream.end(frame(request));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket?.destroy();
    await untilOk(slow.session);
  });
});

import {
  credentials,
  makeClientConstructor,
  Metadata,
  status as Status,
  type Client,
  type ServiceError,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.js";
import { inferenceService, SERVICE_NAME } from "../../../src/serve/grpc/proto.js";
import type { ModelInferResponse } from "../../../src/serve/grpc/messages.js";
import { startServing, type ServeInstance } from "../../../src/serve/one-process.js";
import { parseServeOptions } from "../../../src/serve/options.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { freePort } from "./free-port.js";

/**
 * @grpc/grpc-js as the client (its channel, node:http2's client and nghttp2 underneath: an HTTP/2
 * implementation apart from the server's own in src/serve/grpc/h2/), with what a real channel
 * does: many calls multiplexed with answers larger than the flow-control windows, bearer
 * metadata, deadlines, cancellations, keepalive pings, gzip-compressed requests.
 */

const TOKEN = "s3cret-token";
type Callback<T> = (error: ServiceError | null, value?: T) => void;
type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline?: number },
  callback: Callback<Res>,
) => { cancel(): void };
interface InferenceClient extends Client {
  ModelInfer: Unary<Record<string, unknown>, ModelInferResponse>;
  ServerLive: Unary<Record<string, never>, { live: boolean }>;
}

const Constructor = makeClientConstructor(inferenceService(), SERVICE_NAME) as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: Record<string, unknown>,
) => InferenceClient;

let instance: ServeInstance;
let address: string;
const clients: InferenceClient[] = [];

function client(options: Record<string, unknown> = {}): InferenceClient {
  const made = new Constructor(address, credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 2 ** 20,
    ...options,
  });
  clients.push(made);
  return made;
}

function authorized(): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${TOKEN}`);
  return metadata;
}

/** A request of `rows` identical rides at `distance`. */
function rides(rows: number, distance: number): Record<string, unknown> {
  const column = (name: string, datatype: string, contents: Record<string, number[]>) => ({
    name,
    datatype,
    shape: [rows],
    contents,
  });
  return {
    model_name: "ride-duration",
    inputs: [
      column("PULocationID", "INT64", { int64_contents: Array(rows).fill(10) }),
      column("DOLocationID", "INT64", { int64_contents: Array(rows).fill(50) }),
      column("trip_distance", "FP64", { fp64_contents: Array(rows).fill(distance) }),
    ],
  };
}

function call<Req, Res>(
  method: Unary<Req, Res>,
  target: InferenceClient,
  request: Req,
  metadata = authorized(),
  deadline?: number,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(target, request, metadata, deadline ? { deadline } : {}, (error, value) =>
      error ? reject(error) : resolve(value!),
    ),
  );
}

/** The predictions of an answer (its one output's typed contents). */
const predictions = (answer: ModelInferResponse): number[] =>
  answer.outputs[0].contents?.fp64_contents ?? [];

const infer = (target: InferenceClient, request: Record<string, unknown>, metadata?: Metadata) =>
  call(target.ModelInfer, target, request, metadata);

beforeAll(async () => {
  const port = await freePort();
  instance = await startServing(
    parseServeOptions({
      model: await rideBundlePath(),
      port: 0,
      grpcPort: port,
      workers: 1,
      authToken: TOKEN,
    }),
    [{ path: await rideBundlePath(), servedName: "ride-duration" }],
    { logger: createLogger({ level: "silent" }), announce: false },
  );
  address = `127.0.0.1:${port}`;
}, 60_000);
afterAll(async () => {
  for (const each of clients) each.close();
  await instance?.close();
});

describe("@grpc/grpc-js client against the gRPC port", () => {
  it("150 calls multiplexed on one channel, answers up to 160 KB (past the 64 KiB windows), each right", async () => {
    const target = client();
    const distances = [0.5, 2, 7.25, 13, 40];
    const expected = await Promise.all(
      distances.map(async (d) => predictions(await infer(target, rides(1, d)))[0]),
    );
    const sizes = Array.from({ length: 150 }, (_, i) => [1, 17, 900, 8000, 20_000][i % 5]);
    const answers = await Promise.all(
      sizes.map((rows, i) => infer(target, rides(rows, distances[i % distances.length]))),
    );
    answers.forEach((answer, i) => {
      const values = predictions(answer);
      expect(answer.outputs[0].shape).toEqual([sizes[i]]);
      expect(values.length).toBe(sizes[i]);
      expect(values.every((v) => v === expected[i % distances.length])).toBe(true);
    });
  }, 60_000);

  it("the bearer token: UNAUTHENTICATED without it, ServerLive open", async () => {
    const target = client();
    await expect(infer(target, rides(1, 3), new Metadata())).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
    });
    expect(await call(target.ServerLive, target, {}, new Metadata())).toEqual({ live: true });
  });

  it("a deadline that passes ends that call (DEADLINE_EXCEEDED); a cancelled call ends alone; the channel goes on", async () => {
    const target = client();
    await expect(
      call(target.ModelInfer, target, rides(200_000, 3), authorized(), Date.now() + 2),
    ).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    const cancelled = new Promise<ServiceError | null>((resolve) => {
      const running = target.ModelInfer(rides(100_000, 3), authorized(), {}, (error) =>
        resolve(error),
      );
      setImmediate(() => running.cancel());
    });
    expect((await cancelled)?.code).toBe(Status.CANCELLED);
    expect((await infer(target, rides(3, 3))).outputs[0].shape).toEqual([3]);
  }, 30_000);

  it("keepalive pings every 100 ms between calls do not end the connection", async () => {
    const target = client({
      "grpc.keepalive_time_ms": 100,
      "grpc.keepalive_timeout_ms": 1000,
      "grpc.keepalive_permit_without_calls": 1,
    });
    expect((await infer(target, rides(1, 3))).outputs[0].shape).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await infer(target, rides(2, 3))).outputs[0].shape).toEqual([2]);
  });

  it("gzip-compressed requests (grpc.default_compression_algorithm) are read", async () => {
    const target = client({ "grpc.default_compression_algorithm": 2 });
    const answer = await infer(target, rides(5000, 3));
    expect(predictions(answer).length).toBe(5000);
  });
});

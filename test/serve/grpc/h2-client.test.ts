import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcHeaderBlock, RawH2Connection } from "../../../src/bench/h2-client.js";
import { createLogger } from "../../../src/log/logger.js";
import { inferenceService, SERVICE_NAME } from "../../../src/serve/grpc/proto.js";
import type { ModelInferResponse } from "../../../src/serve/grpc/messages.js";
import { startServing, type ServeInstance } from "../../../src/serve/one-process.js";
import { parseServeOptions } from "../../../src/serve/options.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { freePort } from "./free-port.js";

/**
 * The raw HTTP/2 client of `npm run bench:serve`'s gRPC load (src/bench/h2-client.ts) against
 * the real gRPC service: its calls get the service's answers, OK answers have byte-identical
 * trailers (what the benchmark counts as OK) and an error's differ, and bodies beyond the
 * server's connection window (65,535 bytes) wait for its WINDOW_UPDATEs instead of breaking
 * the connection.
 */

const INFER = `/${SERVICE_NAME}/ModelInfer`;

function body(rows: number): Buffer {
  const column = (name: string, datatype: string, contents: Record<string, number[]>) => ({
    name,
    datatype,
    shape: [rows],
    contents,
  });
  const message = inferenceService().ModelInfer.requestSerialize({
    model_name: "ride-duration",
    inputs: [
      column("PULocationID", "INT64", { int64_contents: Array(rows).fill(10) }),
      column("DOLocationID", "INT64", { int64_contents: Array(rows).fill(50) }),
      column("trip_distance", "FP64", { fp64_contents: Array(rows).fill(4.5) }),
    ],
  });
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

const decode = (data: Buffer) =>
  inferenceService().ModelInfer.responseDeserialize(data.subarray(5)) as ModelInferResponse;

let instance: ServeInstance;
let port: number;
let connection: RawH2Connection;

beforeAll(async () => {
  port = await freePort();
  instance = await startServing(
    parseServeOptions({ model: await rideBundlePath(), port: 0, grpcPort: port, workers: 1 }),
    [{ path: await rideBundlePath(), servedName: "ride-duration" }],
    { logger: createLogger({ level: "silent" }), announce: false },
  );
  connection = await RawH2Connection.open("127.0.0.1", port);
}, 60_000);
afterAll(async () => {
  connection?.close();
  await instance?.close();
});

describe("the benchmark's raw HTTP/2 gRPC client", () => {
  it("gets the service's answer; OK answers share their trailers, an error's differ", async () => {
    const headers = grpcHeaderBlock(`127.0.0.1:${port}`, INFER);
    const first = await connection.call(headers, body(1));
    const second = await connection.call(headers, body(1));
    expect(decode(first.data).outputs[0].shape).toEqual([1]);
    expect(decode(second.data).outputs[0].contents?.fp64_contents).toEqual(
      decode(first.data).outputs[0].contents?.fp64_contents,
    );
    expect(second.trailers.length).toBeGreaterThan(0);
    const wrong = await connection.call(
      grpcHeaderBlock(`127.0.0.1:${port}`, `/${SERVICE_NAME}/Nope`),
      body(1),
    );
    expect(wrong.data.length).toBe(0);
    expect(wrong.trailers.equals(second.trailers)).toBe(false);
    expect((await connection.call(headers, body(1))).trailers.equals(second.trailers)).toBe(true);
  });

  it("many large calls at once on a new connection: bodies beyond the initial window wait for WINDOW_UPDATE", async () => {
    const large = body(2500);
    expect(large.length).toBeGreaterThan(16_384);
    expect(12 * large.length).toBeGreaterThan(65_535);
    const fresh = await RawH2Connection.open("127.0.0.1", port);
    try {
      const headers = grpcHeaderBlock(`127.0.0.1:${port}`, INFER);
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => fresh.call(headers, large)),
      );
      for (const answer of answers) expect(decode(answer.data).outputs[0].shape).toEqual([2500]);
    } finally {
      fresh.close();
    }
  });
});

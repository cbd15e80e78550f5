import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../../src/log/logger.js";
import type { ModelInferResponse } from "../../../../src/serve/grpc/messages.js";
import { inferenceService } from "../../../../src/serve/grpc/proto.js";
import { startServing, type ServeInstance } from "../../../../src/serve/one-process.js";
import { parseServeOptions } from "../../../../src/serve/options.js";
import { pythonHas, SYSTEM_PYTHON } from "../../../helpers/python.js";
import { rideBundlePath } from "../../../helpers/ride-bundle.js";
import { tempDir } from "../../../helpers/temp.js";
import { freePort } from "../free-port.js";
import { grpcHeaders, grpcMessage, H2Connection, INFER_PATH } from "./frames.js";

/**
 * Independent, well-behaved HTTP/2 clients against the gRPC port: Debian's python3-h2 (a
 * strict HTTP/2 state machine: any protocol violation by the server raises in the client)
 * with many calls on one connection and small windows, and nghttp (nghttp2-client) with h2c
 * prior knowledge. Each answer must be the model's, matched to its call.
 */

const HAS_H2 = pythonHas("h2");
const HAS_NGHTTP = spawnSync("sh", ["-c", "command -v nghttp"], { stdio: "ignore" }).status === 0;
const HERE = path.dirname(fileURLToPath(import.meta.url));

let instance: ServeInstance | undefined;
let port: number;
let dir: string;

beforeAll(async () => {
  if (!HAS_H2 && !HAS_NGHTTP) return;
  port = await freePort();
  const bundle = await rideBundlePath();
  instance = await startServing(
    parseServeOptions({
      model: bundle,
      port: 0,
      grpcPort: port,
      workers: 1,
      maxConcurrentRequests: 1_000,
    }),
    [{ path: bundle, servedName: "ride-duration" }],
    { logger: createLogger({ level: "silent" }), announce: false },
  );
  dir = tempDir("mldeploy-h2-clients-");
}, 120_000);
afterAll(async () => {
  await instance?.close();
});

/** A ModelInfer message (gRPC framed): `rows` rows of one trip each call i distinguishes. */
function inferBody(distances: number[]): Buffer {
  const rows = distances.length;
  return grpcMessage(
    inferenceService().ModelInfer.requestSerialize({
      model_name: "ride-duration",
      inputs: [
        {
          name: "PULocationID",
          datatype: "INT64",
          shape: [rows],
          contents: { int64_contents: Array(rows).fill(10) },
        },
        {
          name: "DOLocationID",
          datatype: "INT64",
          shape: [rows],
          contents: { int64_contents: Array(rows).fill(50) },
        },
        {
          name: "trip_distance",
          datatype: "FP64",
          shape: [rows],
          contents: { fp64_contents: distances },
        },
      ],
    }),
  );
}

function predictions(data: Buffer): number[] {
  expect(data.length, "a gRPC message in the answer").toBeGreaterThanOrEqual(5);
  expect(data.readUInt32BE(1), "the gRPC message length").toBe(data.length - 5);
  const response = inferenceService().ModelInfer.responseDeserialize(
    data.subarray(5),
  ) as ModelInferResponse;
  return response.outputs[0].contents?.fp64_contents ?? [];
}

/** The model's predictions, one row per distance, by one call of our raw client. */
async function reference(distances: number[]): Promise<number[]> {
  const connection = await H2Connection.ready(port);
  try {
    await connection.request(1, grpcHeaders(port, INFER_PATH), inferBody(distances));
    const record = await connection.answered(1);
    return predictions(Buffer.concat(record.data));
  } finally {
    connection.close();
  }
}

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a client to its end. Asynchronously: the server under test runs in this process, so a
 * spawnSync would stop it from answering.
 */
function run(command: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      stderr += `\n(killed after ${timeoutMs} ms)`;
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(stdout), stderr });
    });
  });
}

type Headers = [string, string][];
interface H2Answer {
  headers: Headers | null;
  trailers: Headers | null;
  data: string;
}

const value = (headers: Headers | null, name: string) => headers?.find(([n]) => n === name)?.[1];

describe.skipIf(!HAS_H2)(
  `python3-h2 as the client${HAS_H2 ? "" : " (skipped: Debian's python3-h2 is not installed)"}`,
  () => {
    it("100 concurrent ModelInfer calls on one connection, 4,096-byte client window: every answer OK and its own", async () => {
      const calls = 100;
      const rows = 1_000;
      const distances = Array.from({ length: calls }, (_, i) => 0.5 + i * 0.3);
      const expected = await reference(distances);
      expect(new Set(expected).size, "distinct predictions, so a mix-up shows").toBeGreaterThan(
        calls / 4,
      );
      const spec = path.join(dir, "h2-spec.json");
      fs.writeFileSync(
        spec,
        JSON.stringify({
          path: INFER_PATH,
          window: 4_096,
          bodies: distances.map((d) => inferBody(Array(rows).fill(d)).toString("hex")),
        }),
      );
      const client = await run(
        SYSTEM_PYTHON,
        [path.join(HERE, "h2_client.py"), String(port), spec],
        15_000,
      );
      expect(client.status, `h2_client.py failed: ${client.stderr}`).toBe(0);
      const answers = JSON.parse(client.stdout.toString()) as H2Answer[];
      expect(answers).toHaveLength(calls);
      answers.forEach((answer, i) => {
        expect(value(answer.headers, ":status")).toBe("200");
        expect(value(answer.headers, "content-type")).toMatch(/^application\/grpc/);
        expect(value(answer.trailers, "grpc-status"), `call ${i}`).toBe("0");
        const got = predictions(Buffer.from(answer.data, "hex"));
        expect(got).toHaveLength(rows);
        // An 8,000-byte answer through a 4,096-byte window: the server waited for WINDOW_UPDATEs.
        expect(got.every((p) => Math.abs(p - expected[i]) < 1e-9)).toBe(true);
      });
    });
  },
);

describe.skipIf(!HAS_NGHTTP)(
  `nghttp (nghttp2-client) as the client${HAS_NGHTTP ? "" : " (skipped: nghttp is not on PATH)"}`,
  () => {
    it("a ModelInfer over h2c prior knowledge with small windows: exit 0, :status 200, grpc-status 0, the model's answer", async () => {
      const rows = 3_000;
      const [expected] = await reference([4.5]);
      const body = path.join(dir, "nghttp-body.bin");
      fs.writeFileSync(body, inferBody(Array(rows).fill(4.5)));
      const url = `http://127.0.0.1:${port}${INFER_PATH}`;
      const args = [
        // 2^12-1 bytes stream window, 2^14-1 connection window: the 24 kB answer waits for them.
        "-w",
        "12",
        "-W",
        "14",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-d",
        body,
        url,
      ];
      const verbose = await run("nghttp", ["-v", "-n", ...args], 10_000);
      const log = verbose.stdout.toString();
      expect(verbose.status, `nghttp -v failed: ${verbose.stderr}${log}`).toBe(0);
      expect(log).toMatch(/recv \(stream_id=\d+\) :status: 200/);
      expect(log).toMatch(/recv \(stream_id=\d+\) grpc-status: 0/);
      expect(log).not.toMatch(/recv RST_STREAM|recv GOAWAY/);
      const plain = await run("nghttp", args, 10_000);
      expect(plain.status, `nghttp failed: ${plain.stderr}`).toBe(0);
      const got = predictions(plain.stdout);
      expect(got).toHaveLength(rows);
      expect(got.every((p) => Math.abs(p - expected) < 1e-9)).toBe(true);
    });
  },
);

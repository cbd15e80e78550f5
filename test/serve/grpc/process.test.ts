import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { seriesValue } from "../../helpers/prometheus.js";
import { startServeProcess, type ServeProcess } from "../../helpers/serve-process.js";
import { request } from "../helpers/server.js";
import { freePort } from "./free-port.js";
import { callPython, pythonGrpcMissing, type Call } from "./python-client.js";

/**
 * `mldeploy serve --grpc-port` as a real process with 2 node:cluster workers, called by
 * Debian's python3-grpcio: both workers bind the gRPC port through the primary (as they do
 * the HTTP one), and SIGTERM lets a call in flight finish before the process exits 0.
 */

const missing = pythonGrpcMissing();
if (missing) console.warn(`skipping the gRPC process tests: ${missing}`);

const infer: Call = {
  method: "ModelInfer",
  request: {
    model_name: "ride-duration",
    inputs: [
      { name: "PULocationID", datatype: "INT64", shape: [1], contents: { int64_contents: ["10"] } },
      { name: "DOLocationID", datatype: "INT64", shape: [1], contents: { int64_contents: ["50"] } },
      { name: "trip_distance", datatype: "FP64", shape: [1], contents: { fp64_contents: [40] } },
    ],
  },
};

describe.skipIf(missing)("mldeploy serve --grpc-port --workers 2", () => {
  let server: ServeProcess;
  let grpcPort: number;
  beforeAll(async () => {
    grpcPort = await freePort();
    server = await startServeProcess(
      [
        await rideBundlePath(),
        "--model-name",
        "ride-duration",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--grpc-port",
        String(grpcPort),
        "--workers",
        "2",
        // Keeps a call in flight long enough to send SIGTERM while it runs.
        "--max-batch-delay-ms",
        "900",
      ],
      { timeoutMs: 60_000 },
    );
  }, 90_000);
  afterAll(async () => {
    server?.kill("SIGKILL");
    await server?.exited;
  });

  it("announces the gRPC address and answers from its workers on separate connections", async () => {
    expect(server.output()).toContain(`"grpc":"127.0.0.1:${grpcPort}"`);
    // Each Python process opens its own connection: the primary spreads them over workers.
    const replies = (
      await Promise.all(
        Array.from({ length: 6 }, () => callPython(`127.0.0.1:${grpcPort}`, [infer])),
      )
    ).flat();
    expect(replies.map((reply) => reply.code)).toEqual(Array(6).fill("OK"));
    const metrics = (await request(`${server.url}/metrics`)).text;
    const labels = {
      method: "GRPC",
      route: "/inference.GRPCInferenceService/ModelInfer",
      status_code: "OK",
    };
    expect(seriesValue(metrics, "mldeploy_http_requests_total", labels)).toBe(6);
    expect(seriesValue(metrics, "mldeploy_serving_processes")).toBe(2);
  }, 30_000);

  it("SIGTERM lets a gRPC call in flight finish, then exits 0 and stops answering", async () => {
    const target = `127.0.0.1:${grpcPort}`;
    const inFlight = callPython(target, [infer]);
    // The call is in flight once a worker counts it (the gauge covers gRPC calls too).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const metrics = (await request(`${server.url}/metrics`)).text;
      if (seriesValue(metrics, "mldeploy_http_requests_in_flight") >= 1) break;
      if (Date.now() > deadline) throw new Error("the gRPC call never reached the server");
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    server.kill("SIGTERM");
    const [reply] = await inFlight;
    expect(reply.code, reply.details).toBe("OK");
    expect(await server.exited).toBe(0);
    const [after] = await callPython(target, [{ method: "ServerLive" }]);
    expect(after.code).toBe("UNAVAILABLE");
  }, 30_000);
});

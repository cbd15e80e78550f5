import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.js";
import { startServing, type ServeInstance } from "../../../src/serve/one-process.js";
import { parseServeOptions } from "../../../src/serve/options.js";
import { SYSTEM_PYTHON } from "../../helpers/python.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { freePort } from "./free-port.js";
import { pythonGrpcMissing } from "./python-client.js";

/**
 * grpc.health.v1.Health/Check, the standard health check that Kubernetes gRPC probes,
 * grpc_health_probe and load balancers call, asked by an independent client: Debian's
 * python3-grpcio with stubs grpc_tools.protoc compiles from the vendored health.proto here.
 * A serve with --auth-token: the check needs no token (a probe sends none), inference does.
 */

const HEALTH_PROTO = fileURLToPath(
  new URL("../../../src/serve/grpc/health.proto", import.meta.url),
);
const TOKEN = "probe-free";

const DRIVER = String.raw`
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc
import health_pb2, health_pb2_grpc
with grpc.insecure_channel(sys.argv[2]) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    out = []
    for service in json.loads(sys.argv[3]):
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            out.append({"code": "OK", "status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)})
        except grpc.RpcError as error:
            out.append({"code": error.code().name, "details": error.details() or ""})
    try:
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        next(stream)
        out.append({"code": "OK"})
    except grpc.RpcError as error:
        out.append({"code": error.code().name})
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    try:
        infer(b"", timeout=10)
        out.append({"code": "OK"})
    except grpc.RpcError as error:
        out.append({"code": error.code().name})
    print(json.dumps(out))
`;

const missing = pythonGrpcMissing();
let instance: ServeInstance | undefined;
let target: string;

beforeAll(async () => {
  if (missing) return;
  const port = await freePort();
  const bundle = await rideBundlePath();
  instance = await startServing(
    parseServeOptions({ model: bundle, port: 0, grpcPort: port, workers: 1, authToken: TOKEN }),
    [{ path: bundle, servedName: "ride-duration" }],
    { logger: createLogger({ level: "silent" }), announce: false },
  );
  target = `127.0.0.1:${port}`;
}, 60_000);
afterAll(async () => {
  await instance?.close();
});

it.skipIf(missing !== undefined)(
  `Check answers SERVING for the server and its inference service, NOT_FOUND for another, without a token${missing ? ` (skipped: ${missing})` : ""}`,
  async () => {
    const stubs = mkdtempSync(path.join(os.tmpdir(), "mldeploy-health-stubs-"));
    const compiled = spawnSync(
      SYSTEM_PYTHON,
      [
        "-m",
        "grpc_tools.protoc",
        `-I${path.dirname(HEALTH_PROTO)}`,
        `--python_out=${stubs}`,
        `--grpc_python_out=${stubs}`,
        path.basename(HEALTH_PROTO),
      ],
      { encoding: "utf8" },
    );
    expect(compiled.status, compiled.stderr).toBe(0);
    // The driver runs the blocking client in its own process; await it without blocking the
    // server, which runs in this one.
    const run = await new Promise<string>((resolve, reject) =>
      execFile(
        SYSTEM_PYTHON,
        [
          "-c",
          DRIVER,
          stubs,
          target,
          JSON.stringify(["", "inference.GRPCInferenceService", "no.such.Service"]),
        ],
        { encoding: "utf8", timeout: 60_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(stderr || String(error))) : resolve(stdout),
      ),
    );
    expect(JSON.parse(run)).toEqual([
      { code: "OK", status: "SERVING" },
      { code: "OK", status: "SERVING" },
      { code: "NOT_FOUND", details: 'unknown service "no.such.Service"' },
      // Watch is a server stream; the service is unary only.
      { code: "UNIMPLEMENTED" },
      // Inference still asks for the token.
      { code: "UNAUTHENTICATED" },
    ]);
  },
  60_000,
);

import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log/logger.js";
import { startServing, type ServeInstance } from "../../src/serve/one-process.js";
import { parseServeOptions, type ServeOptionsInput } from "../../src/serve/options.js";
import { RIDES_INPUTS } from "../../src/rides/index.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import {
  CLASS_RIDES,
  LABEL,
  expectedFor,
  saveClassifierBundle,
  textLabel,
} from "../model/classifier-bundles.js";
import { postJson, request, RIDES } from "../serve/helpers/server.js";
import { freePort } from "../serve/grpc/free-port.js";
import {
  callPython,
  pythonGrpcMissing,
  type Call,
  type Reply,
} from "../serve/grpc/python-client.js";

/**
 * inference.GRPCInferenceService (grpc_predict_v2.proto of kserve/open-inference-protocol)
 * called by an independent client, Debian's python3-grpcio with stubs compiled from the
 * vendored proto in the test, against `startServing` with --grpc-port: the same models and
 * answers as the REST V2 routes, errors as KServe's protocol/grpc/interceptors.py and Triton's
 * src/grpc/grpc_utils.cc map them.
 */

const missing = pythonGrpcMissing();
if (missing) console.warn(`skipping the gRPC tests: ${missing}`);

const TOKEN = "grpc-secret-token";
const logger = createLogger({ level: "silent" });

interface Running {
  instance: ServeInstance;
  target: string;
}

async function serve(input: Partial<ServeOptionsInput>, classifier: string): Promise<Running> {
  const grpcPort = await freePort();
  const options = parseServeOptions({
    model: await rideBundlePath(),
    port: 0,
    grpcPort,
    workers: 1,
    metrics: true,
    maxBatchDelayMs: 0.5,
    ...input,
  });
  const instance = await startServing(
    options,
    [
      { path: await rideBundlePath(), servedName: "ride-duration", version: "7" },
      { path: classifier, servedName: "ride-class" },
    ],
    { logger, announce: false },
  );
  return { instance, target: `127.0.0.1:${grpcPort}` };
}

let main: Running;
let authed: Running;
let small: Running;

beforeAll(async () => {
  if (missing) return;
  const dir = tempDir("mldeploy-grpc-");
  // The classifier also takes a text column (unused by its graph): a BYTES input.
  const classifier = await saveClassifierBundle(dir, "string", {
    inputs: [...RIDES_INPUTS, { name: "vendor", type: "string", required: false }],
  });
  main = await serve({}, classifier);
  authed = await serve({ authToken: TOKEN }, classifier);
  small = await serve({ bodyLimitBytes: 4096, maxRows: 50, maxConcurrentRequests: 1 }, classifier);
}, 120_000);
afterAll(async () => {
  await Promise.all([main, authed, small].map((each) => each?.instance.close()));
});

const call = (target: Running, calls: Call[]): Promise<Reply[]> => callPython(target.target, calls);
const one = async (target: Running, each: Call): Promise<Reply> => (await call(target, [each]))[0];

/** The ride rows as the typed contents of a ModelInferRequest (int64 in JSON as strings). */
function rideInputs(rows: typeof RIDES) {
  return [
    {
      name: "PULocationID",
      datatype: "INT64",
      shape: [rows.length],
      contents: { int64_contents: rows.map((r) => String(r.PULocationID)) },
    },
    {
      name: "DOLocationID",
      datatype: "INT64",
      shape: [rows.length],
      contents: { int64_contents: rows.map((r) => String(r.DOLocationID)) },
    },
    {
      name: "trip_distance",
      datatype: "FP64",
      shape: [rows.length],
      contents: { fp64_contents: rows.map((r) => r.trip_distance) },
    },
  ];
}

/** The same rows as a REST V2 JSON request. */
function restInputs(rows: typeof RIDES) {
  return rideInputs(rows).map(({ name, datatype, shape, contents }) => ({
    name,
    datatype,
    shape,
    data: Object.values(contents)[0].map(Number),
  }));
}

/** proto JSON renders int64 as strings: shapes back to numbers. */
const numbers = (list: unknown) => (list as string[]).map(Number);

describe.skipIf(missing)(
  "inference.GRPCInferenceService, health and metadata (as REST /v2)",
  () => {
    it("ServerLive, ServerReady and ServerMetadata answer what /v2/health/* and /v2 answer", async () => {
      const [live, ready, metadata] = await call(main, [
        { method: "ServerLive" },
        { method: "ServerReady" },
        { method: "ServerMetadata" },
      ]);
      expect(live).toMatchObject({ code: "OK", response: { live: true } });
      expect(ready).toMatchObject({ code: "OK", response: { ready: true } });
      const rest = (await request(`${main.instance.url}/v2`)).json as Record<string, unknown>;
      expect(metadata.response).toEqual(rest);
    });

    it("ModelReady: true for a served model and version, NOT_FOUND for another (KServe's ModelNotFound)", async () => {
      const [ready, versioned, unknown, otherVersion] = await call(main, [
        { method: "ModelReady", request: { name: "ride-duration" } },
        { method: "ModelReady", request: { name: "ride-duration", version: "7" } },
        { method: "ModelReady", request: { name: "nope" } },
        { method: "ModelReady", request: { name: "ride-duration", version: "8" } },
      ]);
      expect(ready.response).toEqual({ ready: true });
      expect(versioned.response).toEqual({ ready: true });
      expect(unknown).toMatchObject({ code: "NOT_FOUND" });
      expect(unknown.details).toContain('model "nope" is not served here');
      expect(otherVersion).toMatchObject({ code: "NOT_FOUND" });
    });

    it("ModelMetadata equals GET /v2/models/{name}, for a regressor and a classifier", async () => {
      for (const name of ["ride-duration", "ride-class"]) {
        const reply = await one(main, { method: "ModelMetadata", request: { name } });
        expect(reply.code).toBe("OK");
        const response = reply.response as {
          inputs: { shape: unknown }[];
          outputs: { shape: unknown }[];
        };
        const asRest = {
          ...response,
          inputs: response.inputs.map((t) => ({ ...t, shape: numbers(t.shape) })),
          outputs: response.outputs.map((t) => ({ ...t, shape: numbers(t.shape) })),
        };
        const rest = await request(`${main.instance.url}/v2/models/${name}`);
        expect(asRest).toEqual(rest.json);
      }
    });
  },
);

describe.skipIf(missing)("ModelInfer answers as POST /v2/models/{name}/infer", () => {
  it("typed contents in, typed contents out, the same predictions as the JSON path", async () => {
    const reply = await one(main, {
      method: "ModelInfer",
      request: { model_name: "ride-duration", id: "req-1", inputs: rideInputs(RIDES) },
    });
    expect(reply.code).toBe("OK");
    expect(reply.raw).toBe(false);
    const rest = (
      await postJson(`${main.instance.url}/v2/models/ride-duration/infer`, {
        inputs: restInputs(RIDES),
      })
    ).json as { outputs: { name: string; data: number[] }[]; model_version: string };
    const [output] = rest.outputs;
    expect(reply.decoded).toEqual({ [output.name]: output.data });
    expect(reply.response).toMatchObject({
      model_name: "ride-duration",
      model_version: rest.model_version,
      id: "req-1",
    });
    const tensor = (reply.response!.outputs as { datatype: string; shape: unknown }[])[0];
    expect(tensor.datatype).toBe("FP64");
    expect(numbers(tensor.shape)).toEqual([RIDES.length]);
  });

  it("raw_input_contents in (numpy's little-endian bytes), raw_output_contents out, the same predictions", async () => {
    const [typed, raw] = await call(main, [
      { method: "ModelInfer", request: { model_name: "ride-duration", inputs: rideInputs(RIDES) } },
      {
        method: "ModelInfer",
        request: { model_name: "ride-duration", inputs: rideInputs(RIDES) },
        raw: true,
      },
    ]);
    expect(raw.code).toBe("OK");
    expect(raw.raw).toBe(true);
    expect(raw.decoded).toEqual(typed.decoded);
    expect((raw.response!.outputs as { contents?: unknown }[])[0].contents).toBeUndefined();
  });

  it("[n, 1] shapes, FP32 and INT32 tensors for numeric columns (values range-checked as in JSON)", async () => {
    const inputs = rideInputs(RIDES.slice(0, 2));
    const reply = await one(main, {
      method: "ModelInfer",
      request: {
        model_name: "ride-duration",
        inputs: [
          { ...inputs[0], datatype: "INT32", shape: [2, 1], contents: { int_contents: [10, 130] } },
          inputs[1],
          { ...inputs[2], datatype: "FP32", contents: { fp32_contents: [40, 3.5] } },
        ],
      },
    });
    expect(reply.code).toBe("OK");
  });

  it("a classifier: the BYTES labels and the [N, C] probabilities, the outputs asked for, BYTES inputs", async () => {
    const rows = CLASS_RIDES;
    const inputs = [
      ...rideInputs(rows),
      {
        name: "vendor",
        datatype: "BYTES",
        shape: [rows.length],
        contents: {
          bytes_contents: rows.map((_, i) => Buffer.from(`vendor-${i}`).toString("base64")),
        },
      },
    ];
    const [all, labels, probabilities, raw] = await call(main, [
      { method: "ModelInfer", request: { model_name: "ride-class", inputs } },
      {
        method: "ModelInfer",
        request: { model_name: "ride-class", inputs, outputs: [{ name: LABEL }] },
      },
      {
        method: "ModelInfer",
        request: { model_name: "ride-class", inputs, outputs: [{ name: "probabilities" }] },
      },
      { method: "ModelInfer", request: { model_name: "ride-class", inputs }, raw: true },
    ]);
    const want = rows.map((r) => textLabel(r.trip_distance));
    const wantProbabilities = rows.flatMap((r) => expectedFor(r.trip_distance).probabilities);
    expect(all.code).toBe("OK");
    expect(all.decoded![LABEL]).toEqual(want);
    (all.decoded!.probabilities as number[]).forEach((p, i) =>
      expect(p).toBeCloseTo(wantProbabilities[i], 12),
    );
    const tensors = all.response!.outputs as { name: string; datatype: string; shape: unknown }[];
    expect(tensors.map((t) => [t.name, t.datatype, numbers(t.shape)])).toEqual([
      [LABEL, "BYTES", [rows.length]],
      ["probabilities", "FP64", [rows.length, 2]],
    ]);
    expect(Object.keys(labels.decoded!)).toEqual([LABEL]);
    expect(Object.keys(probabilities.decoded!)).toEqual(["probabilities"]);
    expect(raw.raw).toBe(true);
    expect(raw.decoded).toEqual(all.decoded);
    const rest = (
      await postJson(`${main.instance.url}/v2/models/ride-class/infer`, {
        inputs: restInputs(rows),
      })
    ).json as { outputs: { name: string; data: unknown[] }[] };
    expect(Object.fromEntries(rest.outputs.map((o) => [o.name, o.data]))).toEqual(all.decoded);
  });
});

describe.skipIf(missing)(
  "ModelInfer errors: the status codes KServe and Triton answer, never INTERNAL",
  () => {
    const infer = (request: Record<string, unknown>, raw = false): Call => ({
      method: "ModelInfer",
      request: { model_name: "ride-duration", ...request },
      raw,
    });
    const inputs = rideInputs(RIDES);

    it("INVALID_ARGUMENT naming the input for a malformed tensor", async () => {
      const replies = await call(main, [
        infer({ inputs: [{ ...inputs[0], shape: [2, 2] }, inputs[1], inputs[2]] }),
        infer({ inputs: [{ ...inputs[0], datatype: "FLOAT99" }, inputs[1], inputs[2]] }),
        infer({
          inputs: [
            { ...inputs[0], contents: { fp64_contents: [1, 2, 3, 4] } },
            inputs[1],
            inputs[2],
          ],
        }),
        infer({ inputs: [{ ...inputs[0], shape: [3] }, inputs[1], inputs[2]] }),
        infer({ inputs: [{ ...inputs[0], name: "nope" }, inputs[1], inputs[2]] }),
        infer({
          inputs: [
            inputs[0],
            inputs[1],
            { ...inputs[2], contents: { fp64_contents: [1, 2, 3, -4] } },
          ],
        }),
        infer({ inputs: [inputs[0], inputs[1]] }),
        infer({ inputs, outputs: [{ name: "nope" }] }),
        infer({ inputs: [] }),
        infer({ inputs: [{ ...inputs[0], datatype: "FP16", contents: {} }, inputs[1], inputs[2]] }),
      ]);
      const expected: [string, string][] = [
        ["PULocationID", "shape must be [n] or [n, 1]"],
        ["PULocationID", 'unknown datatype "FLOAT99"'],
        ["PULocationID", "go in int64_contents, not fp64_contents"],
        ["PULocationID", "shape says 3 elements but data has 4"],
        ["nope", "is not an input of this model"],
        ["trip_distance", ""],
        ["trip_distance", "is missing"],
        ["nope", "is not produced by this model"],
        ["inputs", "non-empty list"],
        ["PULocationID", "send it in raw_input_contents"],
      ];
      replies.forEach((reply, i) => {
        expect(reply.code, reply.details).toBe("INVALID_ARGUMENT");
        expect(reply.details).toContain(expected[i][0]);
        expect(reply.details).toContain(expected[i][1]);
      });
    });

    it("INVALID_ARGUMENT for raw contents that do not match the shape", async () => {
      const replies = await call(main, [
        // Raw bytes of 3 elements for a shape of 4: the client's numpy bytes, then the shape.
        infer(
          {
            inputs: [
              { ...inputs[0], contents: { int64_contents: ["1", "2", "3"] } },
              inputs[1],
              inputs[2],
            ],
          },
          true,
        ),
        // FP64 bytes for a tensor declared FP32: 8 bytes each where 4 are expected.
        infer({ inputs: [inputs[0], inputs[1], { ...inputs[2], datatype: "FP32" }] }, true),
      ]);
      expect(replies[0]).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(replies[0].details).toContain(
        'input "PULocationID": 24 bytes of raw data do not make the 4 elements',
      );
      // The driver reads the FP32 tensor's elements from fp32_contents, which is empty: 0 bytes.
      expect(replies[1]).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(replies[1].details).toContain('input "trip_distance"');
    });

    it("INVALID_ARGUMENT for raw_input_contents not one per input, or next to typed contents (the spec's all-or-none)", async () => {
      const eight = (value: number) => {
        const bytes = Buffer.alloc(8 * RIDES.length);
        RIDES.forEach((_, i) => bytes.writeDoubleLE(value, i * 8));
        return bytes.toString("base64");
      };
      const untyped = inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape }));
      const [count, mixed] = await call(main, [
        infer({ inputs: untyped, raw_input_contents: [eight(1)] }),
        infer({
          inputs: [inputs[0], ...untyped.slice(1)],
          raw_input_contents: [eight(1), eight(2), eight(3)],
        }),
      ]);
      expect(count).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(count.details).toContain(
        "raw_input_contents holds 1 tensors but the request has 3 inputs",
      );
      expect(mixed).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(mixed.details).toContain(
        'input "PULocationID": contents must not be set when the request uses raw_input_contents',
      );
    });

    it("INVALID_ARGUMENT, not grpc-js's INTERNAL, for bytes that are not a ModelInferRequest", async () => {
      // Field 5 (inputs) as a length-delimited field claiming 100 bytes that are not there.
      const garbage = Buffer.from([0x2a, 100, 1, 2, 3]).toString("base64");
      const [reply] = await call(main, [{ method: "ModelInfer", garbage }]);
      expect(reply.code).toBe("INVALID_ARGUMENT");
      expect(reply.details).toContain("not a protobuf ModelInferRequest");
    });

    it("NOT_FOUND for an unknown model or version", async () => {
      const [model, version] = await call(main, [
        infer({ model_name: "nope", inputs }),
        infer({ model_version: "99", inputs }),
      ]);
      expect(model).toMatchObject({ code: "NOT_FOUND" });
      expect(model.details).toContain('model "nope" is not served here');
      expect(version).toMatchObject({ code: "NOT_FOUND" });
    });

    it("RESOURCE_EXHAUSTED for a message over bodyLimitBytes (gRPC's own limit) and rows over maxRows", async () => {
      const many = Array.from({ length: 60 }, (_, i) => RIDES[i % RIDES.length]);
      const huge = Array.from({ length: 1000 }, (_, i) => RIDES[i % RIDES.length]);
      const [rows, size, after] = await call(small, [
        infer({ inputs: rideInputs(many) }),
        infer({ inputs: rideInputs(huge) }, true),
        infer({ inputs: rideInputs(RIDES) }),
      ]);
      expect(rows).toMatchObject({ code: "RESOURCE_EXHAUSTED" });
      expect(rows.details).toContain("at most 50 are accepted per request (maxRows)");
      expect(size.code).toBe("RESOURCE_EXHAUSTED");
      expect(size.details).toMatch(/larger than max/i);
      // The server is fine after refusing it.
      expect(after.code).toBe("OK");
    });

    it("UNAVAILABLE when the process is at maxConcurrentRequests, counting HTTP requests in flight too", async () => {
      // An HTTP prediction whose body never comes holds the one place (overload.ts counts it
      // from its headers on).
      const url = new URL(small.instance.url);
      const socket = net.connect(Number(url.port), url.hostname);
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      try {
        const reply = await one(small, infer({ inputs }));
        expect(reply.code).toBe("UNAVAILABLE");
        expect(reply.details).toContain("maxConcurrentRequests");
      } finally {
        socket.destroy();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await one(small, infer({ inputs }))).code).toBe("OK");
    });
  },
);

describe.skipIf(missing)(
  "bearer auth: the authorization metadata, as the Authorization header over HTTP",
  () => {
    const infer: Call = {
      method: "ModelInfer",
      request: { model_name: "ride-duration", inputs: rideInputs(RIDES) },
    };
    it("UNAUTHENTICATED without a token or with another; OK with it; health checks open", async () => {
      const [none, wrong, right, metadata, live, ready] = await call(authed, [
        infer,
        { ...infer, metadata: { authorization: "Bearer not-it" } },
        { ...infer, metadata: { authorization: `Bearer ${TOKEN}` } },
        { method: "ModelMetadata", request: { name: "ride-duration" } },
        { method: "ServerLive" },
        { method: "ServerReady" },
      ]);
      expect(none).toMatchObject({ code: "UNAUTHENTICATED" });
      expect(none.details).toContain("authorization: Bearer <token>");
      expect(wrong).toMatchObject({
        code: "UNAUTHENTICATED",
        details: "the bearer token was refused",
      });
      expect(right.code).toBe("OK");
      expect(metadata.code).toBe("UNAUTHENTICATED");
      expect(live.code).toBe("OK");
      expect(ready.code).toBe("OK");
    });
  },
);

describe.skipIf(missing)("metrics and shutdown", () => {
  it("counts gRPC calls in /metrics (method GRPC, the full method name, the status name) and predictions", async () => {
    const before = (await request(`${main.instance.url}/metrics`)).text;
    const count = (text: string, status: string) => {
      const line = text
        .split("\n")
        .find((l) =>
          l.startsWith(
            `mldeploy_http_requests_total{method="GRPC",route="/inference.GRPCInferenceService/ModelInfer",status_code="${status}"}`,
          ),
        );
      return line ? Number(line.split(" ").pop()) : 0;
    };
    await call(main, [
      { method: "ModelInfer", request: { model_name: "ride-duration", inputs: rideInputs(RIDES) } },
      { method: "ModelInfer", request: { model_name: "nope", inputs: rideInputs(RIDES) } },
    ]);
    const after = (await request(`${main.instance.url}/metrics`)).text;
    expect(count(after, "OK") - count(before, "OK")).toBe(1);
    expect(count(after, "NOT_FOUND") - count(before, "NOT_FOUND")).toBe(1);
    expect(after).toContain('mldeploy_http_request_duration_seconds_count{method="GRPC"');
  });
});

describe.skipIf(missing)("hot swap", () => {
  it("answers with the version swapped in, and NOT_FOUND for the version swapped out", async () => {
    const swapped = await main.instance.swap(
      { path: await rideBundlePath(), servedName: "ride-duration", version: "8" },
      0,
    );
    expect(swapped).toBe(true);
    const [metadata, infer, old] = await call(main, [
      { method: "ModelMetadata", request: { name: "ride-duration" } },
      { method: "ModelInfer", request: { model_name: "ride-duration", inputs: rideInputs(RIDES) } },
      {
        method: "ModelInfer",
        request: { model_name: "ride-duration", model_version: "7", inputs: rideInputs(RIDES) },
      },
    ]);
    expect(metadata.response).toMatchObject({ versions: ["8"] });
    expect(infer.response).toMatchObject({ model_version: "8" });
    expect(old.code).toBe("NOT_FOUND");
  });
});

import { writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPredictor } from "../../src/model/predictor.js";
import { buildServer } from "../../src/serve/server.js";
import { pythonHas, runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";
import {
  CLASS_RIDES,
  expectedFor,
  intLabel,
  LABEL,
  saveClassifierBundle,
  textLabel,
} from "../model/classifier-bundles.js";
import {
  expected,
  postJson,
  request,
  RIDES,
  startTestServer,
  type TestServer,
} from "../serve/helpers/server.js";

/**
 * The Open Inference Protocol over HTTP as its peers answer it, over a real socket against the
 * ride bundle, the classifier bundles and a model with a string input. Binary requests are
 * built, and binary answers read, by Python (numpy + struct) as Triton's HTTP client does
 * (triton-inference-server/client src/python/library/tritonclient/http/_utils.py
 * _get_inference_request, _infer_input.py set_data_from_numpy, _infer_result.py), an encoder
 * independent of mldeploy's.
 */

const HAS_NUMPY = pythonHas("numpy");
const HAS_ONNX = pythonHas("onnx");

interface ClientInput {
  name: string;
  datatype: string;
  /** numpy dtype of the raw bytes (little-endian), unused for BYTES. */
  dtype?: string;
  values: unknown[];
  /** As set_data_from_numpy(binary_data=...): true by default, as in tritonclient. */
  binary?: boolean;
}

interface ClientRequest {
  id?: string;
  inputs: ClientInput[];
  /** InferRequestedOutput(name, binary_data); none: binary_data_output true, as tritonclient. */
  outputs?: Array<{ name: string; binary_data: boolean }>;
}

/** The body and Inference-Header-Content-Length tritonclient's _get_inference_request makes. */
function tritonClientBody(spec: ClientRequest): { body: Buffer; jsonSize: number | undefined } {
  const out = runPython(
    `
import json, struct, sys
import numpy as np
spec = json.load(sys.stdin)
def serialize_byte_tensor(values):  # tritonclient.utils.serialize_byte_tensor
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
request, parameters, raws = {}, {}, []
if spec.get("id"):
    request["id"] = spec["id"]
tensors = []
for given in spec["inputs"]:
    tensor = {"name": given["name"], "shape": [len(given["values"])], "datatype": given["datatype"]}
    if given.get("binary", True):
        if given["datatype"] == "BYTES":
            raw = serialize_byte_tensor(given["values"])
        else:
            raw = np.array(given["values"], dtype=given["dtype"]).tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
        raws.append(raw)
    else:
        tensor["data"] = given["values"]
    tensors.append(tensor)
request["inputs"] = tensors
if spec.get("outputs"):
    request["outputs"] = [{"name": o["name"], "parameters": {"binary_data": o["binary_data"]}}
                          for o in spec["outputs"]]
else:
    parameters["binary_data_output"] = True
if parameters:
    request["parameters"] = parameters
head = json.dumps(request).encode()
body = head + b"".join(raws)
sys.stdout.write(json.dumps({"json_size": len(head) if raws else None, "body": body.hex()}))
`,
    [],
    JSON.stringify(spec),
  );
  const { json_size, body } = JSON.parse(out) as { json_size: number | null; body: string };
  return { body: Buffer.from(body, "hex"), jsonSize: json_size ?? undefined };
}

interface DecodedOutput {
  datatype: string;
  shape: number[];
  /** Decoded from the raw bytes, when the output came as binary data. */
  values?: unknown[];
  binary_data_size?: number;
  /** The JSON "data", when it came as JSON. */
  data?: unknown[];
}

/** The response read as tritonclient's InferResult reads it (numpy.frombuffer, "<I" lengths). */
function tritonClientResult(
  body: Buffer,
  headerLength: string | null,
): { header: Record<string, unknown>; outputs: Record<string, DecodedOutput>; left: number } {
  const out = runPython(
    `
import json, struct, sys
import numpy as np
given = json.load(sys.stdin)
body = bytes.fromhex(given["body"])
n = len(body) if given["header_length"] is None else int(given["header_length"])
result = json.loads(body[:n])
buffer = body[n:]
offset, outputs = 0, {}
NP = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4", "BOOL": "?"}
for output in result["outputs"]:
    size = (output.get("parameters") or {}).get("binary_data_size")
    entry = {"datatype": output["datatype"], "shape": output["shape"]}
    if size is None:
        entry["data"] = output["data"]
    else:
        part = buffer[offset:offset + size]
        offset += size
        if output["datatype"] == "BYTES":  # tritonclient.utils.deserialize_bytes_tensor
            values, i = [], 0
            while i < len(part):
                (length,) = struct.unpack_from("<I", part, i)
                i += 4
                values.append(part[i:i + length].decode("utf-8"))
                i += length
        else:
            values = np.frombuffer(part, dtype=NP[output["datatype"]]).tolist()
        entry["values"] = values
        entry["binary_data_size"] = size
    outputs[output["name"]] = entry
sys.stdout.write(json.dumps({"header": result, "outputs": outputs, "left": len(buffer) - offset}))
`,
    [],
    JSON.stringify({ body: body.toString("hex"), header_length: headerLength }),
  );
  return JSON.parse(out) as ReturnType<typeof tritonClientResult>;
}

interface RawAnswer {
  status: number;
  contentType: string | null;
  headerLength: string | null;
  body: Buffer;
}

/** POSTs raw bytes: no Content-Type unless given, as tritonclient sends them. */
async function postBytes(
  url: string,
  body: Uint8Array,
  headers: Record<string, string | number | undefined> = {},
): Promise<RawAnswer> {
  const sent: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers))
    if (value !== undefined) sent[key] = String(value);
  const response = await fetch(url, { method: "POST", body, headers: sent });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    headerLength: response.headers.get("inference-header-content-length"),
    body: Buffer.from(await response.arrayBuffer()),
  };
}

function jsonOf(answer: RawAnswer): unknown {
  return JSON.parse(answer.body.toString("utf8"));
}

const rideInputs = (binary = true): ClientInput[] => [
  {
    name: "PULocationID",
    datatype: "INT64",
    dtype: "<i8",
    values: RIDES.map((r) => r.PULocationID),
    binary,
  },
  {
    name: "DOLocationID",
    datatype: "INT64",
    dtype: "<i8",
    values: RIDES.map((r) => r.DOLocationID),
    binary,
  },
  {
    name: "trip_distance",
    datatype: "FP64",
    dtype: "<f8",
    values: RIDES.map((r) => r.trip_distance),
    binary,
  },
];

const jsonInputs = [
  {
    name: "PULocationID",
    datatype: "INT64",
    shape: [RIDES.length],
    data: RIDES.map((r) => r.PULocationID),
  },
  {
    name: "DOLocationID",
    datatype: "INT64",
    shape: [RIDES.length],
    data: RIDES.map((r) => r.DOLocationID),
  },
  {
    name: "trip_distance",
    datatype: "FP64",
    shape: [RIDES.length],
    data: RIDES.map((r) => r.trip_distance),
  },
];

const classInputs = (["PULocationID", "DOLocationID", "trip_distance"] as const).map((name) => ({
  name,
  datatype: name === "trip_distance" ? "FP64" : "INT64",
  shape: [CLASS_RIDES.length],
  data: CLASS_RIDES.map((r) => r[name]),
}));

let ride: TestServer;
let want: number[];
let rideUrl: string;
const classifiers: Record<"string" | "int64", { app: FastifyInstance; url: string }> = {} as never;
const dir = tempDir("mldeploy-v2-rest-");

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
}

beforeAll(async () => {
  ride = await startTestServer({ maxBatchDelayMs: 0.5, bodyLimitBytes: 64 * 1024 });
  want = await expected(ride.predictor);
  rideUrl = `${ride.url}/v2/models/ride-duration/infer`;
  for (const kind of ["string", "int64"] as const) {
    const predictor = await loadPredictor(await saveClassifierBundle(dir, kind), {
      name: `ride-class-${kind}`,
      version: "3",
    });
    const app = await buildServer(predictor, { maxBatchDelayMs: 0.5 });
    classifiers[kind] = { app, url: await listen(app) };
  }
});
afterAll(async () => {
  await ride?.close();
  await classifiers.string?.app.close();
  await classifiers.int64?.app.close();
});

describe("metadata (open-inference-protocol specification/protocol/inference_rest.md)", () => {
  it('GET /v2 lists "binary_tensor_data" in extensions, as Triton names it (extension_binary_data.md)', async () => {
    const answer = await request(`${ride.url}/v2`);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      name: "mldeploy",
      version: expect.any(String),
      extensions: ["binary_tensor_data"],
    });
  });

  it('model metadata names the platform "onnx_onnxv1", the spec\'s name for an ONNX model run by ONNX Runtime ("Platforms")', async () => {
    for (const url of [
      `${ride.url}/v2/models/ride-duration`,
      `${classifiers.string.url}/v2/models/ride-class-string`,
    ]) {
      const answer = await request(url);
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ platform: "onnx_onnxv1" });
    }
  });
});

describe("optional fields sent as null (MLServer mlserver/types/dataplane.py, KServe protocol/rest/v2_datamodels.py: Optional[...] = None)", () => {
  it("id, parameters, outputs and each tensor's parameters as null answer as if absent", async () => {
    const answer = await postJson(rideUrl, {
      id: null,
      parameters: null,
      inputs: jsonInputs.map((tensor) => ({ ...tensor, parameters: null })),
      outputs: null,
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      model_name: "ride-duration",
      model_version: "7",
      outputs: [{ name: "duration", datatype: "FP64", shape: [RIDES.length], data: want }],
    });
  });

  it("a requested output's parameters as null, and fields the spec does not define (datatype: null), are read as absent", async () => {
    const answer = await postJson(rideUrl, {
      inputs: jsonInputs,
      outputs: [{ name: "duration", parameters: null, datatype: null }],
      parameters: { binary_data_output: null, content_type: null },
    });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^application\/json/);
    expect((answer.json as { outputs: Array<{ data: number[] }> }).outputs[0].data).toEqual(want);
  });

  it("a parameters value that is not an object is a 400 in the protocol's {error} body", async () => {
    const answer = await postJson(rideUrl, { inputs: jsonInputs, parameters: [1] });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error: expect.stringMatching(/parameters must be an object/) });
  });
});

describe.skipIf(!HAS_NUMPY)(
  "binary tensor data extension (Triton docs/protocol/extension_binary_data.md, src/http_server.cc; tritonclient/http)",
  () => {
    it("inputs as raw bytes and outputs as raw bytes, as tritonclient sends by default (no Content-Type, binary_data_output)", async () => {
      const { body, jsonSize } = tritonClientBody({ id: "b1", inputs: rideInputs() });
      const answer = await postBytes(rideUrl, body, {
        "inference-header-content-length": jsonSize,
      });
      expect(answer.status).toBe(200);
      // As Triton's SetResponseHeader when binary data follows the JSON.
      expect(answer.contentType).toBe("application/octet-stream");
      expect(Number(answer.headerLength)).toBeGreaterThan(0);
      const result = tritonClientResult(answer.body, answer.headerLength);
      expect(result.left).toBe(0);
      expect(result.header).toMatchObject({ model_name: "ride-duration", id: "b1" });
      expect(result.outputs.duration).toEqual({
        datatype: "FP64",
        shape: [RIDES.length],
        binary_data_size: RIDES.length * 8,
        values: want,
      });
    });

    it("binary outputs decode to the same numbers the JSON path answers, bit for bit", async () => {
      const json = await postJson(rideUrl, { inputs: jsonInputs });
      const { body, jsonSize } = tritonClientBody({ inputs: rideInputs() });
      const binary = await postBytes(rideUrl, body, {
        "inference-header-content-length": jsonSize,
      });
      const decoded = tritonClientResult(binary.body, binary.headerLength);
      expect(decoded.outputs.duration.values).toEqual(
        (json.json as { outputs: Array<{ data: number[] }> }).outputs[0].data,
      );
    });

    it("binary inputs with JSON outputs (binary_data false on the output): application/json, no Inference-Header-Content-Length", async () => {
      const { body, jsonSize } = tritonClientBody({
        inputs: rideInputs(),
        outputs: [{ name: "duration", binary_data: false }],
      });
      const answer = await postBytes(rideUrl, body, {
        "inference-header-content-length": jsonSize,
        "content-type": "application/octet-stream",
      });
      expect(answer.status).toBe(200);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.headerLength).toBeNull();
      expect(jsonOf(answer)).toEqual({
        model_name: "ride-duration",
        model_version: "7",
        outputs: [{ name: "duration", datatype: "FP64", shape: [RIDES.length], data: want }],
      });
    });

    it("JSON and binary inputs mixed in one request; the bytes follow in input order", async () => {
      const inputs = rideInputs();
      inputs[1].binary = false;
      const { body, jsonSize } = tritonClientBody({ inputs });
      const answer = await postBytes(rideUrl, body, {
        "inference-header-content-length": jsonSize,
      });
      expect(answer.status).toBe(200);
      expect(tritonClientResult(answer.body, answer.headerLength).outputs.duration.values).toEqual(
        want,
      );
    });

    it("other numeric datatypes as raw bytes (INT32, UINT16, FP32) are read as their values", async () => {
      const inputs = rideInputs();
      inputs[0] = { ...inputs[0], datatype: "INT32", dtype: "<i4" };
      inputs[1] = { ...inputs[1], datatype: "UINT16", dtype: "<u2" };
      // 3.66 and 1.2 are not FP32 numbers: the model sees the float32 values.
      const floats = new Float32Array(RIDES.map((r) => r.trip_distance));
      inputs[2] = { ...inputs[2], datatype: "FP32", dtype: "<f4" };
      const { body, jsonSize } = tritonClientBody({ inputs });
      const answer = await postBytes(rideUrl, body, {
        "inference-header-content-length": jsonSize,
      });
      expect(answer.status).toBe(200);
      const asFloat32 = await expected(
        ride.predictor,
        RIDES.map((r, i) => ({ ...r, trip_distance: floats[i] })),
      );
      expect(tritonClientResult(answer.body, answer.headerLength).outputs.duration.values).toEqual(
        asFloat32,
      );
    });

    it("a gzip-compressed binary body (request_compression_algorithm='gzip'): the header length counts the decoded body, as Triton decompresses first", async () => {
      const { body, jsonSize } = tritonClientBody({ inputs: rideInputs() });
      const answer = await postBytes(rideUrl, gzipSync(body), {
        "inference-header-content-length": jsonSize,
        "content-encoding": "gzip",
      });
      expect(answer.status).toBe(200);
      expect(tritonClientResult(answer.body, answer.headerLength).outputs.duration.values).toEqual(
        want,
      );
    });

    it("a text classifier: BYTES labels and INT64 labels as raw bytes, probabilities as JSON (per-output binary_data)", async () => {
      const distances = CLASS_RIDES.map((r) => r.trip_distance);
      const inputs: ClientInput[] = [
        ...(["PULocationID", "DOLocationID"] as const).map((name) => ({
          name,
          datatype: "INT64",
          dtype: "<i8",
          values: CLASS_RIDES.map((r) => r[name]),
        })),
        { name: "trip_distance", datatype: "FP64", dtype: "<f8", values: distances },
      ];
      for (const kind of ["string", "int64"] as const) {
        const { body, jsonSize } = tritonClientBody({
          inputs,
          outputs: [
            { name: LABEL, binary_data: true },
            { name: "probabilities", binary_data: false },
          ],
        });
        const answer = await postBytes(
          `${classifiers[kind].url}/v2/models/ride-class-${kind}/infer`,
          body,
          { "inference-header-content-length": jsonSize },
        );
        expect(answer.status, kind).toBe(200);
        const result = tritonClientResult(answer.body, answer.headerLength);
        expect(result.left).toBe(0);
        expect(result.outputs[LABEL]).toMatchObject({
          datatype: kind === "string" ? "BYTES" : "INT64",
          shape: [distances.length],
          values: distances.map((distance): string | number =>
            kind === "string" ? textLabel(distance) : intLabel(distance),
          ),
        });
        const probabilities = result.outputs.probabilities;
        expect(probabilities.shape).toEqual([distances.length, 2]);
        (probabilities.data as number[]).forEach((p, i) =>
          expect(p).toBeCloseTo(expectedFor(distances[i >> 1]).probabilities[i % 2], 12),
        );
      }
    });

    it("binary_data_output true with a per-output binary_data false: that output stays JSON, the rest are binary", async () => {
      const distances = CLASS_RIDES.map((r) => r.trip_distance);
      const header = JSON.stringify({
        inputs: classInputs,
        outputs: [{ name: LABEL, parameters: { binary_data: false } }, { name: "probabilities" }],
        parameters: { binary_data_output: true },
      });
      const answer = await postBytes(
        `${classifiers.string.url}/v2/models/ride-class-string/infer`,
        Buffer.from(header),
        { "content-type": "application/json" },
      );
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe("application/octet-stream");
      const result = tritonClientResult(answer.body, answer.headerLength);
      expect(result.outputs[LABEL].data).toEqual(distances.map(textLabel));
      expect(result.outputs.probabilities.binary_data_size).toBe(distances.length * 2 * 8);
      expect(result.outputs.probabilities.values).toEqual(
        (
          (
            await postJson(`${classifiers.string.url}/v2/models/ride-class-string/infer`, {
              inputs: classInputs,
              outputs: [{ name: "probabilities" }],
            })
          ).json as { outputs: Array<{ data: number[] }> }
        ).outputs[0].data,
      );
    });

    it.skipIf(!HAS_ONNX)(
      "a BYTES input as raw bytes (4-byte little-endian length, then UTF-8) to a model with a string column",
      async () => {
        const modelDir = path.join(dir, "cities");
        runPython(
          `
import os, sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
os.makedirs(sys.argv[1], exist_ok=True)
encoder = helper.make_node("LabelEncoder", ["city"], ["city_index"], domain="ai.onnx.ml",
    keys_strings=["paris", "lyon", "zürich"], values_int64s=[0, 1, 2], default_int64=3)
weights = numpy_helper.from_array(np.array([1.5, 2.5, 3.5, 0.0]), "weights")
gather = helper.make_node("Gather", ["weights", "city_index"], ["score"], axis=0)
graph = helper.make_graph([encoder, gather], "cities",
    [helper.make_tensor_value_info("city", TensorProto.STRING, [None])],
    [helper.make_tensor_value_info("score", TensorProto.DOUBLE, [None])], [weights])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
    helper.make_opsetid("ai.onnx.ml", 2)], producer_name="python-onnx")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(sys.argv[1], "model.onnx"))
`,
          [modelDir],
        );
        writeFileSync(path.join(modelDir, "MLmodel"), "flavors:\n  onnx:\n    data: model.onnx\n");
        const app = await buildServer(await loadPredictor(modelDir, { name: "cities" }));
        try {
          const url = `${await listen(app)}/v2/models/cities/infer`;
          const metadata = await request(url.replace(/\/infer$/, ""));
          expect(metadata.json).toMatchObject({
            inputs: [{ name: "city", datatype: "BYTES", shape: [-1] }],
          });
          const { body, jsonSize } = tritonClientBody({
            inputs: [
              { name: "city", datatype: "BYTES", values: ["lyon", "zürich", "", "paris", "x"] },
            ],
          });
          const answer = await postBytes(url, body, {
            "inference-header-content-length": jsonSize,
          });
          expect(answer.status).toBe(200);
          expect(tritonClientResult(answer.body, answer.headerLength).outputs.score.values).toEqual(
            [2.5, 3.5, 0, 1.5, 0],
          );
        } finally {
          await app.close();
        }
      },
    );
  },
);

describe("bad binary requests: 400 with the protocol's {error} body naming the input, as Triton's http_server.cc refuses them", () => {
  /** A hand-written request per extension_binary_data.md: JSON, then each input's bytes. */
  function handBody(
    tensors: Array<{ name: string; datatype: string; shape: unknown; bytes?: Buffer }>,
    extra: Buffer = Buffer.alloc(0),
  ): { body: Buffer; jsonSize: number } {
    const json = Buffer.from(
      JSON.stringify({
        inputs: tensors.map(({ name, datatype, shape, bytes }) => ({
          name,
          datatype,
          shape,
          parameters: { binary_data_size: bytes?.length ?? 0 },
        })),
      }),
    );
    return {
      body: Buffer.concat([json, ...tensors.map((t) => t.bytes ?? Buffer.alloc(0)), extra]),
      jsonSize: json.length,
    };
  }
  const int64 = (values: number[]) => Buffer.from(new BigInt64Array(values.map(BigInt)).buffer);
  const fp64 = (values: number[]) => Buffer.from(new Float64Array(values).buffer);
  const goodTensors = () => [
    { name: "PULocationID", datatype: "INT64", shape: [2], bytes: int64([10, 130]) },
    { name: "DOLocationID", datatype: "INT64", shape: [2], bytes: int64([50, 205]) },
    { name: "trip_distance", datatype: "FP64", shape: [2], bytes: fp64([40, 3.66]) },
  ];

  async function expect400(
    body: Buffer,
    header: string | number | undefined,
    message: RegExp,
  ): Promise<void> {
    const answer = await postBytes(rideUrl, body, { "inference-header-content-length": header });
    expect(answer.status).toBe(400);
    expect(answer.contentType).toMatch(/^application\/json/);
    expect(jsonOf(answer)).toEqual({ error: expect.stringMatching(message) });
  }

  it("the hand-written good request is answered (so each refusal below is for its one defect)", async () => {
    const { body, jsonSize } = handBody(goodTensors());
    const answer = await postBytes(rideUrl, body, { "inference-header-content-length": jsonSize });
    expect(answer.status).toBe(200);
    expect(jsonOf(answer)).toMatchObject({ outputs: [{ data: want.slice(0, 2) }] });
  });

  it("an Inference-Header-Content-Length past the end of the body", async () => {
    const { body } = handBody(goodTensors());
    await expect400(body, body.length + 1, /Inference-Header-Content-Length.*only \d+ bytes/);
  });

  it.each(["abc", "-5", "12.5", "1e3", ""])(
    "an Inference-Header-Content-Length that is not a number of bytes: %j",
    async (header) => {
      const { body } = handBody(goodTensors());
      await expect400(body, header, /Inference-Header-Content-Length must be the length/);
    },
  );

  it("a header length that cuts the JSON", async () => {
    const { body, jsonSize } = handBody(goodTensors());
    await expect400(body, jsonSize - 3, /first \d+ bytes\) is not valid JSON/);
  });

  it("binary_data_size larger than the bytes left (the request ends early)", async () => {
    const { body, jsonSize } = handBody(goodTensors());
    await expect400(
      body.subarray(0, body.length - 8),
      jsonSize,
      /input "trip_distance": binary_data_size is 16 but only 8 bytes/,
    );
  });

  it("binary inputs without Inference-Header-Content-Length", async () => {
    const { body } = handBody(goodTensors());
    const json = body.subarray(0, handBody(goodTensors()).jsonSize);
    await expect400(json, undefined, /input "PULocationID".*Inference-Header-Content-Length/);
  });

  it("bytes that do not make the shape's elements (3 INT64 bytes short of the shape [2])", async () => {
    const tensors = goodTensors();
    tensors[0].bytes = int64([10]);
    const { body, jsonSize } = handBody(tensors);
    await expect400(
      body,
      jsonSize,
      /input "PULocationID": 8 bytes of raw data do not make the 2 elements/,
    );
  });

  it("bytes after the last input that no input claims (Triton: unexpected additional input data)", async () => {
    const { body, jsonSize } = handBody(goodTensors(), Buffer.from([1, 2, 3]));
    await expect400(body, jsonSize, /3 bytes after the JSON belong to no input/);
  });

  it("an unknown datatype", async () => {
    const tensors = goodTensors();
    tensors[2].datatype = "FP128";
    const { body, jsonSize } = handBody(tensors);
    await expect400(body, jsonSize, /input "trip_distance": unknown datatype "FP128"/);
  });

  it("a shape that is not one value per row", async () => {
    const tensors = goodTensors();
    tensors[2].shape = [1, 2];
    const { body, jsonSize } = handBody(tensors);
    await expect400(body, jsonSize, /input "trip_distance": shape must be \[n\] or \[n, 1\]/);
  });

  it("binary_data_size that is not a number of bytes", async () => {
    const body = Buffer.from(
      JSON.stringify({
        inputs: jsonInputs.map((t, i) =>
          i === 0 ? { ...t, data: undefined, parameters: { binary_data_size: -8 } } : t,
        ),
      }),
    );
    await expect400(body, body.length, /input "PULocationID": parameters.binary_data_size must be/);
  });

  it("both data and binary_data_size on one input (Triton's ValidateInputContentType)", async () => {
    const body = Buffer.from(
      JSON.stringify({
        inputs: jsonInputs.map((t, i) =>
          i === 0 ? { ...t, parameters: { binary_data_size: 0 } } : t,
        ),
      }),
    );
    await expect400(body, undefined, /input "PULocationID": give its elements either in "data"/);
  });

  it("binary_data and binary_data_output that are not booleans", async () => {
    const body = (extra: Record<string, unknown>) =>
      Buffer.from(JSON.stringify({ inputs: jsonInputs, ...extra }));
    await expect400(
      body({ parameters: { binary_data_output: "yes" } }),
      undefined,
      /parameters.binary_data_output must be true or false/,
    );
    await expect400(
      body({ outputs: [{ name: "duration", parameters: { binary_data: 1 } }] }),
      undefined,
      /output "duration": parameters.binary_data must be true or false/,
    );
  });

  it("a binary body over bodyLimitBytes is a 413, not read further", async () => {
    const rows = 4_000; // 96 KB of tensors past the 64 KiB limit of this server
    const values = Array.from({ length: rows }, (_, i) => 1 + (i % 200));
    const { body, jsonSize } = handBody([
      { name: "PULocationID", datatype: "INT64", shape: [rows], bytes: int64(values) },
      { name: "DOLocationID", datatype: "INT64", shape: [rows], bytes: int64(values) },
      { name: "trip_distance", datatype: "FP64", shape: [rows], bytes: fp64(values) },
    ]);
    const answer = await postBytes(rideUrl, body, { "inference-header-content-length": jsonSize });
    expect(answer.status).toBe(413);
    expect(jsonOf(answer)).toEqual({ error: expect.stringMatching(/bodyLimitBytes/) });
  });

  it("content types other than JSON, octet-stream or none stay a 415", async () => {
    const { body, jsonSize } = handBody(goodTensors());
    const answer = await postBytes(rideUrl, body, {
      "inference-header-content-length": jsonSize,
      "content-type": "text/csv",
    });
    expect(answer.status).toBe(415);
  });

  it("after all of these the server still answers", async () => {
    const answer = await postJson(rideUrl, { inputs: jsonInputs });
    expect(answer.status).toBe(200);
  });
});

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AttributeType,
  decodeForRewrite,
  decodeModel,
  encodeModel,
  encodeRewritten,
  int64Number,
  onnxSchema,
  TensorDataType,
  type OnnxFunction,
  type OnnxModel,
  type OnnxValueInfo,
} from "../../src/model/onnx-proto.js";
import { checkOnnx, NO_ONNX_CHECKER, ONNX_CHECKER_AVAILABLE } from "../helpers/onnx-checker.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

/** The describe title, saying why it is skipped when it is. */
const needsChecker = (title: string) =>
  ONNX_CHECKER_AVAILABLE ? title : `${title} (${NO_ONNX_CHECKER})`;

const SCHEMA_FILE = path.resolve("src/model/onnx-ml.proto");
const BUILT_SCHEMA_FILE = path.resolve("dist/model/onnx-ml.proto");

const vector = (name: string, elemType: number): OnnxValueInfo => ({
  name,
  type: { tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: "N" }] } } },
});
const raw = (values: number[]) => new Uint8Array(Float64Array.from(values).buffer);

/** Zones with a bias in the sparse constant; every other of the 266 zones adds 0. */
const ZONE_BIAS = new Map([
  [10, 4.0],
  [132, -1.5],
  [161, 7.25],
]);
const SLOPE = 3.75;
const SHIFT = 2.5;

/**
 * ride.local.ScaleShift(x, a; shift) = x * a + shift: a model-local function whose body reads
 * the calling node's attribute through ref_attr_name (IR 8).
 */
const scaleShift: OnnxFunction = {
  name: "ScaleShift",
  domain: "ride.local",
  input: ["x", "a"],
  output: ["y"],
  attribute: ["shift"],
  node: [
    {
      name: "",
      op_type: "Constant",
      input: [],
      output: ["c"],
      attribute: [{ name: "value_float", type: AttributeType.FLOAT, ref_attr_name: "shift" }],
    },
    {
      name: "",
      op_type: "Cast",
      input: ["c"],
      output: ["cd"],
      attribute: [{ name: "to", type: AttributeType.INT, i: TensorDataType.DOUBLE }],
    },
    { name: "", op_type: "Mul", input: ["x", "a"], output: ["xa"] },
    { name: "", op_type: "Add", input: ["xa", "cd"], output: ["y"] },
  ],
  opset_import: [{ domain: "", version: 17 }],
  doc_string: "x * a + shift",
};

/**
 * duration = ScaleShift(trip_distance, slope; shift) + zone_bias[PULocationID], with fields the
 * hand-written subset did not have: a model-local function, a sparse constant, value_info,
 * the model's domain and version.
 */
function rideModel(): OnnxModel {
  const zones = [...ZONE_BIAS.keys()];
  return {
    ir_version: 8,
    opset_import: [
      { domain: "", version: 17 },
      { domain: "ride.local", version: 1 },
    ],
    producer_name: "mldeploy-test",
    domain: "nyc.taxi",
    model_version: 7,
    doc_string: "NYC taxi ride duration",
    graph: {
      name: "ride_duration",
      node: [
        {
          name: "zone_bias",
          op_type: "Constant",
          input: [],
          output: ["zone_bias"],
          attribute: [
            {
              name: "sparse_value",
              type: AttributeType.SPARSE_TENSOR,
              sparse_tensor: {
                values: {
                  name: "zone_bias",
                  data_type: TensorDataType.DOUBLE,
                  dims: [zones.length],
                  raw_data: raw([...ZONE_BIAS.values()]),
                },
                indices: {
                  name: "zone_bias_indices",
                  data_type: TensorDataType.INT64,
                  dims: [zones.length],
                  int64_data: zones,
                },
                dims: [266],
              },
            },
          ],
        },
        {
          name: "scale",
          op_type: "ScaleShift",
          domain: "ride.local",
          input: ["trip_distance", "slope"],
          output: ["scaled"],
          attribute: [{ name: "shift", type: AttributeType.FLOAT, f: SHIFT }],
          doc_string: "minutes per mile",
        },
        {
          name: "bias",
          op_type: "Gather",
          input: ["zone_bias", "PULocationID"],
          output: ["bias"],
          attribute: [{ name: "axis", type: AttributeType.INT, i: 0 }],
        },
        { name: "sum", op_type: "Add", input: ["scaled", "bias"], output: ["duration"] },
      ],
      initializer: [
        { name: "slope", data_type: TensorDataType.DOUBLE, dims: [], raw_data: raw([SLOPE]) },
      ],
      input: [
        vector("trip_distance", TensorDataType.DOUBLE),
        vector("PULocationID", TensorDataType.INT64),
      ],
      output: [vector("duration", TensorDataType.DOUBLE)],
      value_info: [vector("scaled", TensorDataType.DOUBLE), vector("bias", TensorDataType.DOUBLE)],
    },
    functions: [scaleShift],
    metadata_props: [{ key: "Zürich", value: "東京" }],
  };
}

const RIDES = {
  trip_distance: [0, 1.2, 3.66, 17.5, 0.01, 40],
  PULocationID: [10, 132, 161, 1, 265, 10],
};

/** What the ride model computes, in the graph's order of float64 operations. */
function expectedDurations(): number[] {
  return RIDES.trip_distance.map(
    (distance, i) => distance * SLOPE + SHIFT + (ZONE_BIAS.get(RIDES.PULocationID[i]) ?? 0),
  );
}

async function runRide(onnx: Uint8Array): Promise<number[]> {
  const session = await ort.InferenceSession.create(onnx);
  try {
    const rows = RIDES.trip_distance.length;
    const result = await session.run({
      trip_distance: new ort.Tensor("float64", Float64Array.from(RIDES.trip_distance), [rows]),
      PULocationID: new ort.Tensor("int64", BigInt64Array.from(RIDES.PULocationID, BigInt), [rows]),
    });
    return Array.from(result.duration.data as Float64Array);
  } finally {
    await session.release();
  }
}

describe("the ONNX schema", () => {
  it("is ONNX's onnx-ml.proto, saying where it comes from and its license", () => {
    const text = readFileSync(SCHEMA_FILE, "utf8");
    expect(text).toMatch(/^\/\/ Vendored, unmodified below this header, from the ONNX project:/);
    expect(text).toContain("https://github.com/onnx/onnx/blob/v1.22.0/onnx/onnx-ml.proto");
    expect(text).toContain("Licensed under the Apache License, Version 2.0");
    expect(text).toContain("// SPDX-License-Identifier: Apache-2.0");
    const schema = onnxSchema();
    // The ONNX-ML parts, and fields of IR versions after the one mldeploy writes.
    expect(schema.lookupType("onnx.TypeProto").fields.opaque_type.id).toBe(7);
    expect(schema.lookupType("onnx.ModelProto").fields.functions.id).toBe(25);
    expect(schema.lookupType("onnx.NodeProto").fields.metadata_props.id).toBe(9);
    expect(schema.lookupEnum("onnx.Version").values.IR_VERSION).toBe(13);
  });

  it("agrees with the enum values mldeploy names", () => {
    const schema = onnxSchema();
    const dataTypes = schema.lookupEnum("onnx.TensorProto.DataType").values;
    for (const [name, value] of Object.entries(TensorDataType))
      expect([name, dataTypes[name]]).toEqual([name, value]);
    const attributeTypes = schema.lookupEnum("onnx.AttributeProto.AttributeType").values;
    const { UNDEFINED, ...defined } = attributeTypes;
    expect(UNDEFINED).toBe(0);
    expect(AttributeType).toEqual(defined);
  });

  it("ships with the package: copied beside the built module, which encodes with it", async () => {
    expect(readFileSync(BUILT_SCHEMA_FILE)).toEqual(readFileSync(SCHEMA_FILE));
    const built = (await import(
      pathToFileURL(path.resolve("dist/model/onnx-proto.js")).href
    )) as typeof import("../../src/model/onnx-proto.js");
    expect(built.encodeModel(rideModel())).toEqual(encodeModel(rideModel()));
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const files = packed[0].files.map((file) => file.path);
    expect(files).toContain("dist/model/onnx-ml.proto");
    expect(files).toContain("dist/model/onnx-proto.js");
  });
});

describe.skipIf(!ONNX_CHECKER_AVAILABLE)(needsChecker("a model written through the schema"), () => {
  it("uses a model-local function and a sparse constant, passes onnx's full check and runs as computed", async () => {
    const onnx = encodeModel(rideModel());
    await checkOnnx(onnx);
    expect(await runRide(onnx)).toEqual(expectedDurations());
    // And back: what was written is what decodes.
    const decoded = decodeModel(onnx);
    expect(decoded.functions).toMatchObject([scaleShift]);
    expect(decoded).toMatchObject({ domain: "nyc.taxi", model_version: 7 });
    expect(decoded.graph.node[0].attribute?.[0].sparse_tensor?.indices.int64_data).toEqual([
      10, 132, 161,
    ]);
  });

  it("checkOnnx rejects a broken graph with the checker's message, also from a path", async () => {
    const model = rideModel();
    model.graph.node[3].input = ["scaled", "no_such_value"];
    const onnx = encodeModel(model);
    await expect(checkOnnx(onnx)).rejects.toThrow(/^ONNX checker: .*no_such_value/);
    const file = path.join(tempDir("mldeploy-onnx-"), "broken.onnx");
    writeFileSync(file, onnx);
    await expect(checkOnnx(file)).rejects.toThrow(/^ONNX checker: .*no_such_value/);
    writeFileSync(file, encodeModel(rideModel()));
    await expect(checkOnnx(file)).resolves.toBeUndefined();
  });
});

/**
 * Writes ride.onnx (a valid ride model with a function, a sparse constant, training info,
 * value_info, metadata) and kitchen-sink.onnx (every other message and field onnx 1.12 writes,
 * on a node of an unknown domain: decodable, not runnable).
 */
const WRITE_PYTHON_MODELS = `
import os, sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper, AttributeProto as A

out = sys.argv[1]
DOUBLE_N = lambda name: h.make_tensor_value_info(name, T.DOUBLE, ["N"])

shift = A(name="value_float", ref_attr_name="shift", type=A.FLOAT)
constant = h.make_node("Constant", [], ["c"])
constant.attribute.append(shift)
function = h.make_function("ride.local", "ScaleShift", ["x", "a"], ["y"], [
    constant,
    h.make_node("Cast", ["c"], ["cd"], to=T.DOUBLE),
    h.make_node("Mul", ["x", "a"], ["xa"]),
    h.make_node("Add", ["xa", "cd"], ["y"]),
], [h.make_opsetid("", 17)], attributes=["shift"], doc_string="x * a + shift")

zone_bias = h.make_sparse_tensor(
    numpy_helper.from_array(np.array([4.0, -1.5, 7.25]), "zone_bias"),
    numpy_helper.from_array(np.array([10, 132, 161], dtype=np.int64), "zone_bias_indices"),
    [266])
graph = h.make_graph([
    h.make_node("Constant", [], ["zone_bias"], sparse_value=zone_bias),
    h.make_node("ScaleShift", ["trip_distance", "slope"], ["scaled"], domain="ride.local",
                shift=2.5, doc_string="minutes per mile"),
    h.make_node("Gather", ["zone_bias", "PULocationID"], ["bias"], axis=0),
    h.make_node("Add", ["scaled", "bias"], ["duration"]),
], "ride_duration",
    [DOUBLE_N("trip_distance"), h.make_tensor_value_info("PULocationID", T.INT64, ["N"])],
    [DOUBLE_N("duration")],
    [numpy_helper.from_array(np.array(3.75), "slope")],
    doc_string="NYC taxi ride duration", value_info=[DOUBLE_N("scaled"), DOUBLE_N("bias")])
training = h.make_training_info(
    h.make_graph([h.make_node("Mul", ["slope", "half"], ["new_slope"])], "halve",
                 [], [h.make_tensor_value_info("new_slope", T.DOUBLE, [])],
                 [numpy_helper.from_array(np.array(0.5), "half")]),
    [("slope", "new_slope")],
    h.make_graph([h.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array(1.0)))],
                 "reset", [], [h.make_tensor_value_info("one", T.DOUBLE, [])]),
    [("slope", "one")])
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ride.local", 1)],
                     functions=[function], producer_name="python-onnx",
                     producer_version=onnx.__version__, domain="nyc.taxi", model_version=7,
                     doc_string="every part a ride model may hold")
model.training_info.append(training)
model.ir_version = 8
h.set_model_props(model, {"run_id": "abc", "Zürich": "東京"})
onnx.checker.check_model(model, full_check=True)
onnx.save(model, os.path.join(out, "ride.onnx"))

def tensor(name):
    t = h.make_tensor(name, T.UINT64, [2, 2], [0, 1, 2**64 - 1, 2**63])
    t.doc_string = "uint64"
    t.segment.begin = 0
    t.segment.end = 4
    return t
external = T(name="weights", data_type=T.FLOAT, dims=[1000], data_location=T.EXTERNAL)
for key, value in [("location", "weights.bin"), ("offset", "4096"), ("length", "4000")]:
    external.external_data.add(key=key, value=value)
strings = h.make_tensor("texts", T.STRING, [3], [b"PU_DO", "Zürich".encode(), b"\\xff\\xfe"])
floats = h.make_tensor("f32", T.FLOAT, [2], [1.5, -0.0])
int32s = h.make_tensor("i32", T.INT32, [3], [-(2**31), 0, 2**31 - 1])
halves = h.make_tensor("f16", T.FLOAT16, [2], np.array([1.0, 2.0], dtype=np.float16).view(np.uint16).tolist())
int64s = h.make_tensor("i64", T.INT64, [3], [-(2**63), 2**53 + 1, 2**63 - 1])
raw = numpy_helper.from_array(np.array([[1.0, 2.0]], dtype=np.float64), "raw")
sparse = h.make_sparse_tensor(raw, numpy_helper.from_array(np.array([[0, 1]], dtype=np.int64), "ix"), [3, 4])
subgraph = h.make_graph([h.make_node("Identity", ["outer"], ["inner"])], "sub", [],
                        [h.make_tensor_value_info("inner", T.DOUBLE, [None, 3])])
map_type = onnx.TypeProto()
map_type.map_type.key_type = T.STRING
map_type.map_type.value_type.CopyFrom(h.make_tensor_type_proto(T.DOUBLE, []))
seq_type = h.make_sequence_type_proto(map_type)
opt_type = h.make_optional_type_proto(h.make_tensor_type_proto(T.INT64, ["N"]))
opaque = onnx.TypeProto()
opaque.opaque_type.domain = "x.test"
opaque.opaque_type.name = "Blob"
opaque.denotation = "IMAGE"
sparse_type = h.make_sparse_tensor_type_proto(T.FLOAT, [3, 4])
node = h.make_node("Everything", ["a", "", "b"], ["c", "d"], domain="x.test", name="every",
                   doc_string="all attribute kinds",
                   f=0.1, i=-(2**63), s=b"\\x00\\xff raw", t=tensor("t"), g=subgraph,
                   floats=[1.0, -2.5], ints=[2**62 + 1, -1, 0], strings=[b"a", b"\\xff"],
                   tensors=[external, strings, floats, int32s, halves, int64s],
                   graphs=[subgraph, subgraph], sparse_tensor=sparse, sparse_tensors=[sparse],
                   tp=seq_type, type_protos=[opt_type, opaque, sparse_type])
dim = onnx.TensorShapeProto.Dimension(dim_param="N", denotation="DATA_BATCH")
typed = h.make_tensor_value_info("a", T.DOUBLE, [None, 3], doc_string="a")
typed.type.tensor_type.shape.dim[0].CopyFrom(dim)
annotation = onnx.TensorAnnotation(tensor_name="c")
annotation.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="scale")
kitchen = h.make_graph([node], "kitchen_sink",
    [typed, h.make_value_info("b", seq_type), h.make_value_info("outer", opt_type)],
    [h.make_value_info("c", map_type), h.make_value_info("d", opaque)],
    [raw, external], value_info=[h.make_value_info("s", sparse_type)], sparse_initializer=[sparse])
kitchen.quantization_annotation.append(annotation)
sink = h.make_model(kitchen, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("x.test", 1)],
                    functions=[function])
sink.training_info.append(training)
sink.ir_version = 8
onnx.save(sink, os.path.join(out, "kitchen-sink.onnx"))
`;

/**
 * Python's onnx compares two model files: message equality and deterministic serialization
 * (which includes fields Python does not know). With "restore-ride", the second file is the
 * ride model with trip_distance declared FLOAT and the graph renamed: the script reports
 * those two fields, puts the originals back, then compares.
 */
const COMPARE_PYTHON = `
import sys, json, onnx
from onnx import TensorProto as T
a = onnx.ModelProto.FromString(open(sys.argv[1], "rb").read())
b = onnx.ModelProto.FromString(open(sys.argv[2], "rb").read())
changed = None
if len(sys.argv) > 3:
    changed = [b.graph.name, b.graph.input[0].type.tensor_type.elem_type]
    b.graph.name = a.graph.name
    b.graph.input[0].type.tensor_type.elem_type = T.DOUBLE
print(json.dumps({"equal": a == b, "sameBytes": a.SerializeToString(deterministic=True)
    == b.SerializeToString(deterministic=True), "changed": changed}))
`;

function comparePython(original: string, rewritten: Uint8Array, restoreRide = false) {
  const file = `${original}.rewritten`;
  writeFileSync(file, rewritten);
  const args = [original, file, ...(restoreRide ? ["restore-ride"] : [])];
  return JSON.parse(runPython(COMPARE_PYTHON, args)) as {
    equal: boolean;
    sameBytes: boolean;
    changed: [string, number] | null;
  };
}

describe.skipIf(!ONNX_CHECKER_AVAILABLE)(needsChecker("models written by Python's onnx"), () => {
  let dir: string;
  let ride: Uint8Array;
  let sink: Uint8Array;
  beforeAll(() => {
    dir = tempDir("mldeploy-onnx-python-");
    runPython(WRITE_PYTHON_MODELS, [dir]);
    ride = readFileSync(path.join(dir, "ride.onnx"));
    sink = readFileSync(path.join(dir, "kitchen-sink.onnx"));
  });

  it("decode with their functions, training info, sparse tensors and ONNX-ML types", () => {
    const model = decodeModel(ride);
    expect(model.functions?.map((f) => [f.domain, f.name, f.attribute])).toEqual([
      ["ride.local", "ScaleShift", ["shift"]],
    ]);
    expect(model.training_info?.[0].update_binding).toEqual([{ key: "slope", value: "new_slope" }]);
    expect(model.training_info?.[0].algorithm.name).toBe("halve");
    expect(model.metadata_props).toContainEqual({ key: "Zürich", value: "東京" });
    const kitchen = decodeModel(sink);
    expect(kitchen.graph.sparse_initializer?.[0].dims).toEqual([3, 4]);
    const attributes = new Map(kitchen.graph.node[0].attribute?.map((a) => [a.name, a]));
    expect(attributes.get("g")?.g?.name).toBe("sub");
    expect(attributes.get("graphs")?.graphs).toHaveLength(2);
    expect(attributes.get("tensors")?.tensors?.[0]).toMatchObject({
      data_location: 1,
      external_data: [
        { key: "location", value: "weights.bin" },
        { key: "offset", value: "4096" },
        { key: "length", value: "4000" },
      ],
    });
    expect(attributes.get("t")?.t).toMatchObject({
      segment: { begin: 0, end: 4 },
      doc_string: "uint64",
    });
    const opaque = (kitchen.graph.output[1].type as unknown as { opaque_type: unknown })
      .opaque_type;
    expect(opaque).toEqual({ domain: "x.test", name: "Blob" });
  });

  it("rewrite back to the same models, as Python's onnx compares them", () => {
    for (const [name, bytes] of [
      ["ride.onnx", ride],
      ["kitchen-sink.onnx", sink],
    ] as const) {
      const model = decodeForRewrite(bytes);
      expect(model, name).toBeDefined();
      expect(comparePython(path.join(dir, name), encodeRewritten(model!)), name).toEqual({
        equal: true,
        sameBytes: true,
        changed: null,
      });
    }
    // int64 stays exact beyond 2^53 (a Long until the caller asks for a number).
    const every = decodeForRewrite(sink)!.graph!.node[0].attribute.find((a) => a.name === "ints")!;
    expect(every.ints!.map((v) => BigInt(String(v)))).toEqual([2n ** 62n + 1n, -1n, 0n]);
    expect(int64Number(every.ints![1])).toBe(-1);
  });

  it("keep everything else when a rewrite changes a field, and the rewritten model runs", async () => {
    const model = decodeForRewrite(ride)!;
    const tensorType = model.graph!.input[0].type!.tensor_type!;
    tensorType.elem_type = TensorDataType.FLOAT;
    (model.graph as unknown as { name: string }).name = "renamed";
    expect(comparePython(path.join(dir, "ride.onnx"), encodeRewritten(model), true)).toEqual({
      equal: true,
      sameBytes: true,
      changed: ["renamed", TensorDataType.FLOAT],
    });
    tensorType.elem_type = TensorDataType.DOUBLE;
    const rewritten = encodeRewritten(model);
    await checkOnnx(rewritten);
    expect(await runRide(rewritten)).toEqual(expectedDurations());
    expect(await runRide(ride)).toEqual(expectedDurations());
  });

  it("encode again from the plain objects decodeModel gives", () => {
    expect(comparePython(path.join(dir, "ride.onnx"), encodeModel(decodeModel(ride)))).toEqual({
      equal: true,
      sameBytes: true,
      changed: null,
    });
  });
});

// Wire-format pieces for messages the schema would not write: fields appended to an encoded
// message are read as part of it.
const schema = () => onnxSchema();
function encoded(
  typeName: string,
  value: Record<string, unknown>,
  ...extra: Uint8Array[]
): Uint8Array {
  const type = schema().lookupType(typeName);
  return concat(type.encode(type.fromObject(value)).finish(), ...extra);
}
function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => Array.from(part)));
}
const field = (id: number, wireType: number) =>
  protobuf.Writer.create().uint32((id << 3) | wireType);
const lengthDelimited = (id: number, bytes: Uint8Array | number[]) =>
  field(id, 2).bytes(Uint8Array.from(bytes)).finish();
const varint = (id: number, value: number) => field(id, 0).uint32(value).finish();
const attribute = (value: Record<string, unknown>, ...extra: Uint8Array[]) =>
  lengthDelimited(5, encoded("onnx.AttributeProto", value, ...extra));

/** A one-node model whose node (NodeProto bytes) gets `extra` fields appended. */
function modelWithNode(...extra: Uint8Array[]): Uint8Array {
  const node = encoded(
    "onnx.NodeProto",
    { name: "scale", op_type: "Mul", input: ["trip_distance", "trip_distance"], output: ["y"] },
    ...extra,
  );
  const graph = encoded(
    "onnx.GraphProto",
    {
      name: "g",
      input: [vector("trip_distance", TensorDataType.DOUBLE)],
      output: [vector("y", TensorDataType.DOUBLE)],
    },
    lengthDelimited(1, node),
  );
  return encoded(
    "onnx.ModelProto",
    { ir_version: 8, opset_import: [{ domain: "", version: 17 }] },
    lengthDelimited(7, graph),
  );
}

describe("decodeForRewrite", () => {
  it("takes a model whose fields are all in the schema, in any order", () => {
    const model = decodeForRewrite(
      modelWithNode(attribute({ name: "alpha", type: AttributeType.FLOAT, f: 0.5 })),
    );
    expect(model?.graph?.node[0]).toMatchObject({
      op_type: "Mul",
      attribute: [{ name: "alpha", type: 1 }],
    });
  });

  it.each([
    ["ModelProto", concat(modelWithNode(), varint(1000, 1))],
    ["NodeProto", modelWithNode(varint(99, 1))],
    [
      "AttributeProto, nested deeper",
      modelWithNode(attribute({ name: "alpha", type: 1 }, lengthDelimited(1000, [1, 2]))),
    ],
  ])("refuses a field the schema does not know, in %s (a re-encode would drop it)", (_, bytes) => {
    expect(decodeForRewrite(bytes)).toBeUndefined();
  });

  it("refuses a known field in another wire type than the schema's (it would be misread)", () => {
    // AttributeProto.i (an int64 varint) as 8 fixed bytes that protobufjs would read as i = 5
    // followed by name = "abcde"; protobuf's own parsers keep the 8 bytes as an unknown field.
    const fixed = field(3, 1).fixed64(0).finish();
    fixed.set([0x05, 0x0a, 0x05, ...new TextEncoder().encode("abcde")], fixed.length - 8);
    const misread = modelWithNode(attribute({ name: "alpha", type: AttributeType.INT }, fixed));
    expect(decodeForRewrite(misread)).toBeUndefined();
    expect(decodeModel(misread).graph.node[0].attribute).toEqual([
      expect.objectContaining({ name: "abcde", i: 5 }),
    ]);
    // ModelProto.ir_version length-delimited; NodeProto.name and ModelProto.graph as varints.
    expect(decodeForRewrite(concat(lengthDelimited(1, [8]), modelWithNode()))).toBeUndefined();
    expect(decodeForRewrite(modelWithNode(varint(3, 0)))).toBeUndefined();
    expect(decodeForRewrite(concat(varint(7, 1)))).toBeUndefined();
  });

  it("refuses a singular message field given twice (protobuf merges them, protobufjs keeps the last)", () => {
    const model = modelWithNode();
    const graph = lengthDelimited(7, encoded("onnx.GraphProto", { doc_string: "second part" }));
    expect(decodeForRewrite(concat(model, graph))).toBeUndefined();
    // A repeated one (opset_import) given apart is fine.
    const opset = lengthDelimited(
      8,
      encoded("onnx.OperatorSetIdProto", { domain: "ai.onnx.ml", version: 3 }),
    );
    expect(decodeForRewrite(concat(model, opset))?.opset_import).toHaveLength(2);
  });

  it("refuses text that is not UTF-8, and keeps the same bytes in a bytes field", () => {
    expect(decodeForRewrite(modelWithNode(lengthDelimited(3, [0x72, 0xff, 0xfe])))).toBeUndefined();
    const model = decodeForRewrite(
      modelWithNode(
        attribute(
          { name: "s", type: AttributeType.STRING },
          lengthDelimited(4, [0x72, 0xff, 0xfe]),
        ),
      ),
    );
    expect(model).toBeDefined();
    const again = decodeModel(encodeRewritten(model!));
    expect(Array.from(again.graph.node[0].attribute![0].s!)).toEqual([0x72, 0xff, 0xfe]);
  });

  it("reads a repeated number packed where the schema declares it unpacked, as parsers must", () => {
    // AttributeProto.ints (field 8) is unpacked in onnx.proto; 2^40 and -1 as packed varints.
    const packed = protobuf.Writer.create()
      .uint32((8 << 3) | 2)
      .fork()
      .int64(1)
      .int64(2 ** 40)
      .int64(-1)
      .ldelim()
      .finish();
    const model = decodeForRewrite(
      modelWithNode(attribute({ name: "ints", type: AttributeType.INTS }, packed)),
    );
    expect(model?.graph?.node[0].attribute[0].ints?.map(int64Number)).toEqual([1, 2 ** 40, -1]);
    expect(decodeModel(encodeRewritten(model!)).graph.node[0].attribute![0].ints).toEqual([
      1,
      2 ** 40,
      -1,
    ]);
  });

  it("refuses what is not a ModelProto", () => {
    const valid = modelWithNode();
    expect(decodeForRewrite(valid)).toBeDefined();
    expect(decodeForRewrite(valid.subarray(0, valid.length - 3))).toBeUndefined();
    expect(
      decodeForRewrite(new TextEncoder().encode("PK\u0003\u0004 not a model")),
    ).toBeUndefined();
    expect(decodeForRewrite(new Uint8Array([1, 2, 3, 4]))).toBeUndefined();
  });
});

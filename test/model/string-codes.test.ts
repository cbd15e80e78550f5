import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AttributeType,
  decodeModel,
  encodeModel,
  TensorDataType,
  type OnnxModel,
  type OnnxNode,
} from "../../src/model/onnx-proto.js";
import { OnnxRunner, openSession, type RunPlan } from "../../src/model/onnx-runner.js";
import { loadPredictor, runPlanOf } from "../../src/model/predictor.js";
import { encodeStringInputs } from "../../src/model/string-codes.js";
import { applyFeatures } from "../../src/model/transform.js";
import type { Predictor } from "../../src/model/types.js";
import { pythonHas, runPython } from "../helpers/python.js";
import { rideModel } from "../helpers/ride-bundle.js";
import { legacyRideBundlePath } from "./legacy-bundle.js";
import { tempDir } from "../helpers/temp.js";

const encoder = new TextEncoder();

/** Texts a LabelEncoder must tell apart, known or not: near misses, Unicode, empty. */
function probeTexts(keys: string[]): string[] {
  return [
    ...keys,
    "",
    "nope",
    "1_999",
    " 1_2",
    "1_2 ",
    "Zürich_東京",
    "\u{1F695}_taxi",
    "lone\uD800surrogate",
    ...keys.slice(0, 50).map((key) => key.toUpperCase() + "x"),
  ];
}

/** The original graph's output for the texts, straight from onnxruntime. */
async function originalOutput(
  onnx: string | Uint8Array,
  feeds: Record<string, ort.Tensor>,
  output: string,
): Promise<Float64Array> {
  const session = await openSession(onnx);
  try {
    // Copied: the output may live in the session's memory, which release frees.
    return Float64Array.from((await session.run(feeds, [output]))[output].data as Float64Array);
  } finally {
    await session.release();
  }
}

// A bundle whose graph takes PU_DO texts (features outside the graph): written before issue 19,
// or for a feature map that cannot be compiled into the graph.
describe("a trained ride-duration model whose graph takes PU_DO texts", () => {
  let trained: Awaited<ReturnType<typeof rideModel>> & { bundlePath: string };
  let predictor: Predictor;
  beforeAll(async () => {
    trained = { ...(await rideModel()), bundlePath: await legacyRideBundlePath() };
    predictor = await loadPredictor(trained.bundlePath);
  });
  afterAll(async () => {
    await predictor?.close();
  });

  it("has its PU_DO LabelEncoder taken out of the graph, with the model's categories", () => {
    const onnx = readFileSync(path.join(trained.bundlePath, "model.onnx"));
    const encoded = encodeStringInputs(onnx);
    expect(Object.keys(encoded?.codes ?? {})).toEqual(["PU_DO"]);
    const codes = encoded!.codes.PU_DO;
    expect(codes.keys).toEqual(trained.model.categories);
    expect(Array.from(codes.codes)).toEqual(trained.model.categories.map((_, index) => index));
    expect(codes.fallback).toBe(trained.model.categories.length);
    const rewritten = decodeModel(encoded!.onnx);
    expect(rewritten.graph.node.map((node) => node.op_type)).toEqual([
      "Gather",
      "Mul",
      "Add",
      "Add",
    ]);
    expect(rewritten.graph.input[0]).toMatchObject({
      name: "PU_DO",
      type: { tensor_type: { elem_type: TensorDataType.INT64 } },
    });
    // Everything else is kept: metadata, producer, initializers.
    const original = decodeModel(onnx);
    expect(rewritten.metadata_props).toEqual(original.metadata_props);
    expect(rewritten.producer_name).toBe(original.producer_name);
    expect(rewritten.graph.initializer).toEqual(original.graph.initializer);
  });

  it("predicts bit for bit what onnxruntime gives for the bundle's own graph", async () => {
    const plan = runPlanOf(predictor)!;
    expect(plan.onnxBytes).toBeDefined();
    expect(plan.inputs.find((input) => input.name === "PU_DO")).toMatchObject({
      type: "string",
      codes: { fallback: trained.model.categories.length },
    });
    // Zone pairs over 1..300: most seen in training, many not, some past the data's zones;
    // a few values that are no 16-bit id (the lookup by pair of numbers does not apply).
    const rows = 20_000;
    const pickups = Float64Array.from({ length: rows }, (_, i) =>
      i % 97 === 0 ? 70_000 + i : i % 89 === 0 ? 2.5 : i % 83 === 0 ? -7 : 1 + ((i * 7919) % 300),
    );
    const dropoffs = Float64Array.from({ length: rows }, (_, i) => 1 + ((i * 104729) % 300));
    const distances = Float64Array.from({ length: rows }, (_, i) => (i % 250) / 10);
    const batch = {
      rows,
      columns: { PULocationID: pickups, DOLocationID: dropoffs, trip_distance: distances },
    };
    // Twice: the second time codes come from what the first remembered by pair.
    const first = (await predictor.predictColumns(batch)).values as Float64Array;
    const actual = (await predictor.predictColumns(batch)).values as Float64Array;
    expect(Array.from(first)).toEqual(Array.from(actual));
    const features = applyFeatures(batch, plan.features);
    const seen = new Set(trained.model.categories);
    const texts = features.PU_DO as string[];
    expect(texts.filter((text) => !seen.has(text)).length).toBeGreaterThan(1_000);
    expect(texts.filter((text) => seen.has(text)).length).toBeGreaterThan(1_000);
    const expected = await originalOutput(
      plan.onnxPath,
      {
        PU_DO: new ort.Tensor("string", texts, [rows]),
        trip_distance: new ort.Tensor("float64", distances, [rows]),
      },
      "duration",
    );
    expect(Array.from(actual)).toEqual(Array.from(expected));
  });

  it("answers every known category, near misses and odd texts as LabelEncoder does", async () => {
    const plan = runPlanOf(predictor)!;
    const texts = probeTexts(trained.model.categories);
    const distances = new Float64Array(texts.length).fill(3.5);
    const session = await openSession(plan.onnxBytes!);
    const runner = new OnnxRunner(session, {
      ...plan,
      features: { PU_DO: { column: "PU_DO" }, trip_distance: { column: "trip_distance" } },
    });
    try {
      const actual = (await runner.run({
        rows: texts.length,
        columns: { PU_DO: texts, trip_distance: distances },
      })) as Float64Array;
      const expected = await originalOutput(
        plan.onnxPath,
        {
          PU_DO: new ort.Tensor("string", texts, [texts.length]),
          trip_distance: new ort.Tensor("float64", distances, [texts.length]),
        },
        "duration",
      );
      expect(Array.from(actual)).toEqual(Array.from(expected));
    } finally {
      await runner.close();
    }
  });
});

/**
 * X (string) --LabelEncoder--> code --Gather(weights)--> y: the smallest graph with a
 * string-keyed encoder. `edit` changes it into the case under test.
 */
function encoderModel(
  options: {
    keys?: string[];
    values?: number[];
    fallback?: number;
    edit?: (model: OnnxModel) => void;
  } = {},
): Uint8Array {
  const keys = options.keys ?? ["a", "b", "c"];
  const values = options.values ?? keys.map((_, index) => index);
  const weights = new Float64Array(keys.length + 1).map((_, i) => 10 + i);
  const raw = new Uint8Array(weights.buffer.slice(0));
  const attribute: NonNullable<OnnxNode["attribute"]> = [
    {
      name: "keys_strings",
      type: AttributeType.STRINGS,
      strings: keys.map((k) => encoder.encode(k)),
    },
    { name: "values_int64s", type: AttributeType.INTS, ints: values },
  ];
  if (options.fallback !== undefined) {
    attribute.push({ name: "default_int64", type: AttributeType.INT, i: options.fallback });
  }
  const vector = (name: string, elemType: number) => ({
    name,
    type: { tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: "N" }] } } },
  });
  const model: OnnxModel = {
    ir_version: 8,
    opset_import: [
      { domain: "", version: 17 },
      { domain: "ai.onnx.ml", version: 3 },
    ],
    graph: {
      name: "encoder",
      node: [
        {
          name: "encode",
          op_type: "LabelEncoder",
          domain: "ai.onnx.ml",
          input: ["X"],
          output: ["code"],
          attribute,
        },
        { name: "weigh", op_type: "Gather", input: ["weights", "code"], output: ["y"] },
      ],
      initializer: [
        {
          name: "weights",
          data_type: TensorDataType.DOUBLE,
          dims: [weights.length],
          raw_data: raw,
        },
      ],
      input: [vector("X", TensorDataType.STRING)],
      output: [vector("y", TensorDataType.DOUBLE)],
    },
  };
  options.edit?.(model);
  return encodeModel(model);
}

describe("encodeStringInputs", () => {
  it("keeps LabelEncoder's answer for texts it does not know, with or without default_int64", async () => {
    for (const fallback of [undefined, 3, 0]) {
      const onnx = encoderModel({ fallback });
      const encoded = encodeStringInputs(onnx);
      expect(encoded?.codes.X.fallback).toBe(fallback ?? -1);
      const texts = probeTexts(["a", "b", "c"]);
      const plan: RunPlan = {
        onnxPath: "unused.onnx",
        onnxBytes: encoded!.onnx,
        inputs: [{ name: "X", type: "string", columnVector: false, codes: encoded!.codes.X }],
        features: { X: { column: "X" } },
        output: "y",
      };
      const runner = new OnnxRunner(await openSession(encoded!.onnx), plan);
      try {
        const actual = (await runner.run({
          rows: texts.length,
          columns: { X: texts },
        })) as Float64Array;
        const expected = await originalOutput(
          onnx,
          { X: new ort.Tensor("string", texts, [texts.length]) },
          "y",
        );
        // Without default_int64 an unknown text is -1, which Gather reads as the last weight.
        expect(Array.from(actual)).toEqual(Array.from(expected));
      } finally {
        await runner.close();
      }
    }
  });

  it.each([
    ["a key appears twice", { keys: ["a", "b", "a"] }],
    ["a code is beyond int32", { values: [0, 1, 2 ** 31] }],
    ["a key holds U+FFFD, which a lone surrogate also becomes", { keys: ["a", "\uFFFD"] }],
    ["a key holds NUL", { keys: ["a", "b\0c"] }],
    [
      "the string input is read by a second node",
      {
        edit: (model: OnnxModel) => {
          model.graph.node.push({
            name: "copy",
            op_type: "Identity",
            input: ["X"],
            output: ["x2"],
          });
          model.graph.output.push({ ...model.graph.input[0], name: "x2" });
        },
      },
    ],
    [
      "the string input is also a graph output",
      {
        edit: (model: OnnxModel) => {
          model.graph.output.push(model.graph.input[0]);
        },
      },
    ],
    [
      "the encoder's codes are a graph output",
      {
        edit: (model: OnnxModel) => {
          model.graph.output.push({
            ...model.graph.input[0],
            name: "code",
            type: {
              tensor_type: {
                elem_type: TensorDataType.INT64,
                shape: { dim: [{ dim_param: "N" }] },
              },
            },
          });
        },
      },
    ],
    [
      "the encoder maps texts to texts",
      {
        edit: (model: OnnxModel) => {
          model.graph.node[0].attribute![1] = {
            name: "values_strings",
            type: AttributeType.STRINGS,
            strings: [encoder.encode("x"), encoder.encode("y"), encoder.encode("z")],
          };
        },
      },
    ],
  ])("leaves the graph as it is when %s", (_, options) => {
    expect(encodeStringInputs(encoderModel(options))).toBeUndefined();
  });

  it("leaves a model holding a field it does not know as it is (rewriting would drop it)", () => {
    const onnx = encoderModel();
    expect(encodeStringInputs(onnx)).toBeDefined();
    // ModelProto field 1000, a varint: unknown to ONNX's schema (as a field of a newer ONNX).
    const unknown = protobuf.Writer.create()
      .uint32((1000 << 3) | 0)
      .uint32(1)
      .finish();
    const withUnknown = new Uint8Array([...onnx, ...unknown]);
    expect(encodeStringInputs(withUnknown)).toBeUndefined();
    expect(encodeStringInputs(new Uint8Array([1, 2, 3, 4]))).toBeUndefined();
  });

  it("rewrites a model holding parts outside the old hand-written subset, keeping them", async () => {
    const onnx = encoderModel({
      edit: (model) => {
        model.functions = [
          {
            name: "Halve",
            domain: "ride.local",
            input: ["x"],
            output: ["y"],
            node: [{ name: "", op_type: "Div", input: ["x", "x"], output: ["y"] }],
            opset_import: [{ domain: "", version: 17 }],
          },
        ];
        model.opset_import.push({ domain: "ride.local", version: 1 });
        model.graph.value_info = [model.graph.output[0]];
        model.graph.node[1].doc_string = "the weight of each code";
      },
    });
    const encoded = encodeStringInputs(onnx);
    expect(encoded?.codes.X.keys).toEqual(["a", "b", "c"]);
    const rewritten = decodeModel(encoded!.onnx);
    const original = decodeModel(onnx);
    expect(rewritten.functions).toEqual(original.functions);
    expect(rewritten.graph.value_info).toEqual(original.graph.value_info);
    expect(rewritten.graph.node[0].doc_string).toBe("the weight of each code");
    const session = await openSession(encoded!.onnx);
    await session.release();
  });

  it.skipIf(!pythonHas("onnx"))(
    "rewrites a graph built by Python's onnx with [N, 1] string input, and the bundle predicts the same",
    async () => {
      const dir = path.join(tempDir("mldeploy-codes-"), "model");
      const onnxPath = path.join(dir, "model.onnx");
      runPython(
        `
import os, sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
encoder = helper.make_node("LabelEncoder", ["city"], ["city_index"], domain="ai.onnx.ml",
    keys_strings=["paris", "lyon", "nice"], values_int64s=[0, 1, 2], default_int64=3)
weights = numpy_helper.from_array(np.array([[1.5], [2.5], [3.5], [0.0]]), "weights")
gather = helper.make_node("Gather", ["weights", "city_index"], ["gathered"], axis=0)
shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 1])
reshape = helper.make_node("Reshape", ["gathered", "shape"], ["score"])
graph = helper.make_graph([encoder, gather, reshape], "cities",
    [helper.make_tensor_value_info("city", TensorProto.STRING, [None, 1])],
    [helper.make_tensor_value_info("score", TensorProto.DOUBLE, [None, 1])],
    [weights, shape])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
    helper.make_opsetid("ai.onnx.ml", 2)], producer_name="python-onnx")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
`,
        [onnxPath],
      );
      writeFileSync(path.join(dir, "MLmodel"), "flavors:\n  onnx:\n    data: model.onnx\n");
      const loaded = await loadPredictor(dir);
      try {
        const plan = runPlanOf(loaded)!;
        expect(plan.inputs).toMatchObject([
          { name: "city", type: "string", columnVector: true, codes: { fallback: 3 } },
        ]);
        const cities = ["lyon", "paris", "brest", "nice", "", "Paris"];
        const result = await loaded.predictRecords(cities.map((city) => ({ city })));
        expect(Array.from(result.values as Float64Array)).toEqual([2.5, 1.5, 0, 3.5, 0, 0]);
      } finally {
        await loaded.close();
      }
    },
  );
});

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readBundle } from "../../src/model/bundle.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { BundleError, InputValidationError } from "../../src/model/types.js";
import { pythonHas, runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

function bundleWith(
  mlmodel: string,
  files: Record<string, string> = { "model.onnx": "x" },
): string {
  const dir = tempDir();
  writeFileSync(path.join(dir, "MLmodel"), mlmodel);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}

const minimal = `flavors:\n  onnx:\n    data: model.onnx\n`;

describe("readBundle names what is wrong", () => {
  it.each([
    ["a missing directory", () => path.join(tempDir(), "nope"), /directory does not exist/],
    ["a missing MLmodel", () => tempDir(), /MLmodel file is missing/],
    ["bad YAML", () => bundleWith("flavors: [\n  onnx: {"), /MLmodel is not valid YAML/],
    ["no onnx flavor", () => bundleWith("flavors:\n  sklearn: {}\n"), /no flavors.onnx section/],
    [
      "a missing model.onnx",
      () => bundleWith(minimal, {}),
      /model.onnx \(flavors.onnx.data\) is missing/,
    ],
    [
      "data outside the bundle",
      () => bundleWith(`flavors:\n  onnx:\n    data: ../../etc/passwd\n`),
      /points outside the bundle/,
    ],
    [
      "a signature that is not JSON",
      () => bundleWith(minimal + `signature:\n  inputs: '[{"name": '\n`),
      /signature.inputs is not valid JSON/,
    ],
    [
      "a signature column with an unknown type",
      () => bundleWith(minimal + `signature:\n  inputs: '[{"name": "a", "type": "complex"}]'\n`),
      /signature.inputs.0.type: Invalid option/,
    ],
    [
      "an mldeploy feature reading an undeclared column",
      () =>
        bundleWith(
          minimal +
            `mldeploy:\n  format_version: 1\n  inputs: [{name: a, type: double}]\n  features: {x: {column: b}}\n  output: y\n`,
        ),
      /mldeploy.features refers to "b"/,
    ],
    [
      "features that do not match the signature",
      () =>
        bundleWith(
          minimal +
            `signature:\n  inputs: '[{"name": "x", "type": "double"}, {"name": "z", "type": "double"}]'\n  outputs: '[{"name": "y", "type": "double"}]'\n` +
            `mldeploy:\n  format_version: 1\n  inputs: [{name: a, type: double}]\n  features: {x: {column: a}}\n  output: y\n`,
        ),
      /signature mismatch: signature input "z" has no entry in mldeploy.features/,
    ],
  ])("%s", async (_label, make, message) => {
    const dir = make();
    await expect(readBundle(dir)).rejects.toThrow(BundleError);
    await expect(readBundle(dir)).rejects.toThrow(message);
  });

  it("reports a model.onnx that onnxruntime cannot parse", async () => {
    const dir = bundleWith(minimal, { "model.onnx": "not a protobuf" });
    await expect(loadPredictor(dir)).rejects.toThrow(/onnxruntime cannot load model.onnx/);
  });
});

// A bundle as Python's mlflow.onnx.save_model writes it: no mldeploy section, a column signature,
// inputs of shape [N, 1] as skl2onnx exports them, float32 output. Built with Debian's onnx.
const pythonBundle = `
import json, os, sys
import onnx
from onnx import TensorProto, helper
out = sys.argv[1]
a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 1])
b = helper.make_tensor_value_info("b", TensorProto.INT64, [None, 1])
y = helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])
two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
nodes = [
    helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
    helper.make_node("Mul", ["a", "two"], ["a2"]),
    helper.make_node("Add", ["a2", "bf"], ["variable"]),
]
graph = helper.make_graph(nodes, "py", [a, b], [y], [two])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
model.ir_version = 8
onnx.checker.check_model(model)
os.makedirs(out, exist_ok=True)
onnx.save(model, os.path.join(out, "model.onnx"))
sig_in = json.dumps([{"type": "float", "name": "a", "required": True}, {"type": "long", "name": "b", "required": True}])
sig_out = json.dumps([{"type": "float", "name": "variable", "required": True}])
with open(os.path.join(out, "MLmodel"), "w") as f:
    f.write("artifact_path: model\\nflavors:\\n  onnx:\\n    code: null\\n    data: model.onnx\\n    onnx_version: 1.12.0\\n"
            "  python_function:\\n    data: model.onnx\\n    loader_module: mlflow.onnx\\n    python_version: 3.11.2\\n"
            "mlflow_version: 2.12.1\\nmodel_uuid: 0a1b2c\\nrun_id: 5d6e7f\\n"
            "signature:\\n  inputs: '" + sig_in + "'\\n  outputs: '" + sig_out + "'\\n  params: null\\n")
`;

describe.skipIf(!pythonHas("onnx"))(
  "a bundle saved by Python's mlflow.onnx (needs python3-onnx)",
  () => {
    it("loads without an mldeploy section, validates by signature and predicts", async () => {
      const dir = path.join(tempDir(), "py-model");
      mkdirSync(dir);
      runPython(pythonBundle, [dir]);
      const predictor = await loadPredictor(dir);
      try {
        expect(predictor.info.inputs.map((c) => [c.name, c.type])).toEqual([
          ["a", "float"],
          ["b", "long"],
        ]);
        expect(predictor.info.output).toBe("variable");
        expect(predictor.info.version).toBe("5d6e7f");
        const result = await predictor.predictRecords([
          { a: 1.5, b: 3 },
          { a: -2, b: 10 },
        ]);
        expect(Array.from(result.values as Float64Array)).toEqual([6, 6]);
        await expect(predictor.predictRecords([{ a: 1, b: 2.5 }])).rejects.toThrow(
          InputValidationError,
        );
        await expect(predictor.predictRecords([{ a: 1, b: 2.5 }])).rejects.toThrow(
          /field "b".*must be an integer/,
        );
      } finally {
        await predictor.close();
      }
    });
  },
);

// The usual skl2onnx export of a scikit-learn regressor: all features in one float tensor
// "float_input" [N, 3] and an ai.onnx.ml LinearRegressor, logged by mlflow.onnx with a
// DataFrame input example (a column signature) and an unnamed output signature. The
// coefficients come from scikit-learn, fitted here; its own predictions are the reference.
const packedBundle = `
import json, os, sys
import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.linear_model import LinearRegression
out, width = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
X = np.column_stack([rng.integers(1, 266, 500), rng.integers(1, 266, 500), rng.uniform(0, 30, 500)])
y = 4 + 0.01 * X[:, 0] - 0.02 * X[:, 1] + 3.1 * X[:, 2] + rng.normal(0, 1, 500)
model = LinearRegression().fit(X, y)
x = helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 3])
v = helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])
node = helper.make_node("LinearRegressor", ["float_input"], ["variable"], domain="ai.onnx.ml",
                        coefficients=[float(c) for c in model.coef_], intercepts=[float(model.intercept_)])
graph = helper.make_graph([node], "skl2onnx-like", [x], [v])
onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 1)])
onnx_model.ir_version = 8
onnx.checker.check_model(onnx_model)
os.makedirs(out, exist_ok=True)
onnx.save(onnx_model, os.path.join(out, "model.onnx"))
names = [("PULocationID", "long"), ("DOLocationID", "long"), ("trip_distance", "double")][:width]
sig_in = json.dumps([{"type": t, "name": n, "required": True} for n, t in names])
sig_out = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}])
with open(os.path.join(out, "MLmodel"), "w") as f:
    f.write("artifact_path: model\\nflavors:\\n  onnx:\\n    code: null\\n    data: model.onnx\\n    onnx_version: 1.12.0\\n"
            "  python_function:\\n    data: model.onnx\\n    loader_module: mlflow.onnx\\n    python_version: 3.11.2\\n"
            "mlflow_version: 2.12.1\\nmodel_uuid: 9f8e7d\\nrun_id: 1a2b3c\\n"
            "signature:\\n  inputs: '" + sig_in + "'\\n  outputs: '" + sig_out + "'\\n  params: null\\n")
rides = [[130, 205, 3.66], [10, 50, 40.0], [1, 265, 0.5]]
print(json.dumps(model.predict(np.array(rides)).tolist()))
`;

describe.skipIf(!pythonHas("onnx") || !pythonHas("sklearn"))(
  "a scikit-learn model exported the skl2onnx way: one [N, k] input (needs python3-sklearn)",
  () => {
    it("feeds the signature's columns, in order, into the one tensor and predicts as scikit-learn", async () => {
      const dir = path.join(tempDir(), "packed-model");
      const expected = JSON.parse(runPython(packedBundle, [dir, "3"])) as number[];
      const predictor = await loadPredictor(dir);
      try {
        expect(predictor.info.inputs.map((c) => [c.name, c.type])).toEqual([
          ["PULocationID", "long"],
          ["DOLocationID", "long"],
          ["trip_distance", "double"],
        ]);
        expect(predictor.info.output).toBe("variable");
        const result = await predictor.predictRecords([
          { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 },
          { PULocationID: 10, DOLocationID: 50, trip_distance: 40 },
          { PULocationID: 1, DOLocationID: 265, trip_distance: 0.5 },
        ]);
        // float32 inside the graph, as with onnxruntime in Python.
        expect(result.values).toHaveLength(3);
        result.values.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 3));
        await expect(
          predictor.predictRecords([{ PULocationID: 130, trip_distance: 3.66 }]),
        ).rejects.toThrow(/field "DOLocationID".*required/);
      } finally {
        await predictor.close();
      }
    });

    it("names the mismatch when the signature's columns do not fill the tensor's width", async () => {
      const dir = path.join(tempDir(), "packed-mismatch");
      runPython(packedBundle, [dir, "2"]);
      await expect(loadPredictor(dir)).rejects.toThrow(
        /ONNX input "float_input" \[.*3\] takes 3 values per row, the signature names 2 columns/,
      );
    });
  },
);

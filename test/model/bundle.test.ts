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
        expect(Array.from(result.values)).toEqual([6, 6]);
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

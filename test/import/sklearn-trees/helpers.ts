import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import ort from "onnxruntime-node";
import { GraphBuilder } from "../../../src/import/onnx/graph.js";
import { shortName } from "../../../src/import/pickle/access.js";
import type { PyObject } from "../../../src/import/pickle/values.js";
import { TREE_CONVERTERS } from "../../../src/import/sklearn/trees/index.js";
import type { EstimatorOutputs, FeatureMatrix } from "../../../src/import/sklearn/stage.js";
import { SYSTEM_PYTHON } from "../fixtures.js";

export const RIDE_COLUMNS = ["PULocationID", "DOLocationID", "trip_distance"];

/** The converted graph with outputs "prediction" (or "label") and "probabilities". */
export function buildGraph(
  estimator: PyObject,
  makeX: (graph: GraphBuilder) => FeatureMatrix,
): { onnx: Uint8Array; outputs: EstimatorOutputs } {
  const convert = TREE_CONVERTERS[estimator.className];
  if (!convert) throw new Error(`no converter for ${estimator.className}`);
  const graph = new GraphBuilder(shortName(estimator.className));
  const outputs = convert(estimator, graph, makeX(graph));
  if (outputs.kind === "regressor") {
    graph.output(outputs.prediction, "prediction", "DOUBLE");
  } else {
    graph.output(outputs.label, "label", outputs.labelType);
    graph.output(outputs.probabilities, "probabilities", "DOUBLE", ["N", outputs.classes.length]);
  }
  return { onnx: graph.build(), outputs };
}

export async function runGraph(
  onnx: Uint8Array,
  columns: Record<string, Float64Array>,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(onnx);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, values] of Object.entries(columns)) {
    feeds[name] = new ort.Tensor("float64", values, [values.length]);
  }
  const result = await session.run(feeds);
  await session.release();
  return result;
}

/** Largest |a - b| / max(|a|, |b|) over entries, and the count beyond 1e-6 relative (+1e-12). */
export function compareNumbers(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { maxRelative: number; failures: number } {
  if (actual.length !== expected.length)
    throw new Error(`length ${actual.length} != ${expected.length}`);
  let maxRelative = 0;
  let failures = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    const diff = Math.abs(a - b);
    const scale = Math.max(Math.abs(a), Math.abs(b));
    if (scale > 0) maxRelative = Math.max(maxRelative, diff / scale);
    if (!(diff <= 1e-6 * scale + 1e-12)) failures++;
  }
  return { maxRelative, failures };
}

/** Runs onnx 1.12's checker (full_check) on every file; resolves to Python's output. */
export async function checkModels(
  dir: string,
  models: Record<string, Uint8Array>,
): Promise<string> {
  const files: string[] = [];
  for (const [name, bytes] of Object.entries(models)) {
    const file = path.join(dir, `${name}.onnx`);
    await writeFile(file, bytes);
    files.push(file);
  }
  const script =
    "import sys, onnx\n" +
    "for p in sys.argv[1:]:\n" +
    "    onnx.checker.check_model(onnx.load(p), full_check=True)\n" +
    "print('checked', len(sys.argv) - 1)\n";
  const { stdout } = await promisify(execFile)(SYSTEM_PYTHON, ["-c", script, ...files], {
    timeout: 120_000,
  });
  return stdout.trim();
}

import { readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import ort from "onnxruntime-node";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { originalModels, trainingPythonMissing } from "../../src/bench/original-service.js";
import { importToBundle } from "../../src/import/import-bundle.js";
import { readBundle } from "../../src/model/bundle.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { ColumnSpec, Predictor } from "../../src/model/types.js";
import { buildServer } from "../../src/serve/server.js";
import { predictLinear } from "../../src/train/linear.js";
import { ONNX_CHECKER_AVAILABLE, NO_ONNX_CHECKER } from "../helpers/onnx-checker.js";
import { runPython } from "../helpers/python.js";
import { rideModel } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

/**
 * Self-contained bundles (issue 19 §2): model.onnx takes the request's own columns and builds
 * its features inside, so `mlflow models serve` — whose onnx flavor feeds each DataFrame column
 * as a 1-D array to the graph input of that name (mlflow/onnx/__init__.py,
 * `_OnnxModelWrapper.predict`: `{name: data[name].values for (name, _) in self.inputs}`) —,
 * Python onnxruntime and Triton take what mldeploy takes and give the same numbers. The MLmodel
 * and environment files follow mlflow/onnx/__init__.py `save_model`, mlflow/models/model.py
 * `Model.save` (yaml.safe_dump(to_dict(), default_flow_style=False)), mlflow/pyfunc/__init__.py
 * `add_to_model`, mlflow/utils/environment.py and mlflow/models/utils.py `_Example`.
 *
 * Python has onnx (Debian's 1.12 checker) but no onnxruntime here: the graph is run on the
 * request columns by a small numpy evaluator of ONNX's operator semantics, written below
 * independently of mldeploy, and by onnxruntime-node fed the columns directly.
 */

const MISSING_SKLEARN = await trainingPythonMissing();
const ORIGINAL_ROOT = path.join(
  os.tmpdir(),
  "mldeploy-import-fixtures",
  "original-service-20000-17",
);
const PU_DO = 'PU_DO=PULocationID + "_" + DOLocationID';

type Ride = { PULocationID: number; DOLocationID: number; trip_distance: number };

/** Numpy's reading of each op mldeploy's graphs use, from the ONNX operator specification. */
const NUMPY_EVALUATOR = String.raw`
import json, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
request = json.load(sys.stdin)
graph = model.graph
DTYPE = {1: np.float32, 6: np.int32, 7: np.int64, 8: object, 9: np.bool_, 11: np.float64}
env = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
inputs = []
for value in graph.input:
    if value.name in env:
        continue
    tensor = value.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    inputs.append({"name": value.name, "elem_type": tensor.elem_type, "dims": dims})
    # As MLflow's pyfunc feeds a DataFrame column: data[name].values, 1-D.
    env[value.name] = np.array(request["columns"][value.name], dtype=DTYPE[tensor.elem_type])

def attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}

def text(values):
    return [v.decode("utf-8") for v in values]

ops = []
for node in graph.node:
    a = attributes(node)
    x = [env[name] if name else None for name in node.input]
    op = node.op_type
    ops.append(op)
    if op == "Identity":
        y = x[0]
    elif op == "Cast":
        y = x[0].astype(DTYPE[a["to"]])
    elif op in ("Add", "Sub", "Mul"):
        y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](x[0], x[1])
    elif op == "Floor":
        y = np.floor(x[0])
    elif op == "Clip":
        y = x[0]
        if len(x) > 1 and x[1] is not None:
            y = np.maximum(y, x[1])
        if len(x) > 2 and x[2] is not None:
            y = np.minimum(y, x[2])
    elif op == "Equal":
        y = np.equal(x[0], x[1])
    elif op == "And":
        y = np.logical_and(x[0], x[1])
    elif op == "Where":
        y = np.where(x[0], x[1], x[2])
    elif op == "Unsqueeze":
        y = np.expand_dims(x[0], tuple(int(v) for v in x[1]))
    elif op == "Squeeze":
        y = np.squeeze(x[0], axis=tuple(int(v) for v in x[1])) if len(x) > 1 else np.squeeze(x[0])
    elif op == "Concat":
        y = np.concatenate(x, axis=a["axis"])
    elif op == "MatMul":
        y = np.matmul(x[0], x[1])
    elif op == "Gather":
        y = np.take(x[0], x[1], axis=a.get("axis", 0))
    elif op == "LabelEncoder":
        if "keys_int64s" in a:
            keys = list(a["keys_int64s"])
        elif "keys_strings" in a:
            keys = text(a["keys_strings"])
        else:
            keys = list(a["keys_floats"])
        if "values_int64s" in a:
            values, default, dtype = list(a["values_int64s"]), a.get("default_int64", -1), np.int64
        elif "values_floats" in a:
            values, default, dtype = list(a["values_floats"]), a.get("default_float", -0.0), np.float32
        else:
            values, default, dtype = text(a["values_strings"]), text([a.get("default_string", b"_Unused")])[0], object
        table = dict(zip(keys, values))
        flat = [table.get(k.item() if hasattr(k, "item") else k, default) for k in x[0].reshape(-1)]
        y = np.array(flat, dtype=dtype).reshape(x[0].shape)
    else:
        raise SystemExit("the numpy evaluator has no op " + op)
    env[node.output[0]] = y

output = env[request["output"]]
print(json.dumps({"inputs": inputs, "ops": ops, "predictions": [float(v) for v in output.reshape(-1)]}))
`;

/** Serialization checks: each file against Python's own dump of what it reads. */
const PYTHON_DUMPS = String.raw`
import json, sys, yaml
d = sys.argv[1]
def read(name):
    with open(d + "/" + name) as f:
        return f.read()
mlmodel = read("MLmodel")
conda = read("conda.yaml")
python_env = read("python_env.yaml")
example = read("input_example.json")
serving = read("serving_input_example.json")
print(json.dumps({
    "MLmodel": mlmodel == yaml.safe_dump(yaml.safe_load(mlmodel), default_flow_style=False),
    "conda.yaml": conda == yaml.safe_dump(yaml.safe_load(conda), default_flow_style=False),
    "python_env.yaml": python_env == yaml.safe_dump(yaml.safe_load(python_env), sort_keys=False, default_flow_style=False),
    "input_example.json": example == json.dumps(json.loads(example)),
    "serving_input_example.json": serving == json.dumps(json.loads(serving), indent=2),
}))
`;

/** Predictions of the original pickle (DictVectorizer, LinearRegression) as its service made them. */
const ORIGINAL_PREDICT = String.raw`
import json, pickle, sys
with open(sys.argv[1], "rb") as f:
    dv, lr = pickle.load(f)
rides = json.load(sys.stdin)
features = [{"PU_DO": "%s_%s" % (r["PULocationID"], r["DOLocationID"]), "trip_distance": r["trip_distance"]} for r in rides]
print(json.dumps([float(v) for v in lr.predict(dv.transform(features))]))
`;

interface NumpyRun {
  inputs: Array<{ name: string; elem_type: number; dims: Array<string | number> }>;
  ops: string[];
  predictions: number[];
}

function numpyRun(bundle: string, rides: Ride[], columns: ColumnSpec[], output: string): NumpyRun {
  const payload = {
    output,
    columns: Object.fromEntries(
      columns.map((c) => [c.name, rides.map((r) => r[c.name as keyof Ride])]),
    ),
  };
  return JSON.parse(
    runPython(NUMPY_EVALUATOR, [path.join(bundle, "model.onnx")], JSON.stringify(payload)),
  ) as NumpyRun;
}

/** onnxruntime-node fed the request columns as they are: no mldeploy transform on the way. */
async function onnxruntimeRun(
  bundle: string,
  rides: Ride[],
  columns: ColumnSpec[],
  output: string,
) {
  const session = await ort.InferenceSession.create(path.join(bundle, "model.onnx"));
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const column of columns) {
      const values = rides.map((r) => r[column.name as keyof Ride]);
      feeds[column.name] =
        column.type === "long"
          ? new ort.Tensor(
              "int64",
              BigInt64Array.from(values, (v) => BigInt(v)),
              [rides.length],
            )
          : new ort.Tensor("float64", Float64Array.from(values), [rides.length]);
    }
    const result = await session.run(feeds, [output]);
    return Array.from(result[output].data as Float64Array);
  } finally {
    await session.release();
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-9) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    worst = Math.max(worst, Number.isNaN(error) ? Infinity : error);
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
}

/** Rides seen in training, routes never seen, and ids that no category can hold. */
function probeRides(known: Array<[number, number]>, integerIds: boolean): Ride[] {
  const rides: Ride[] = known.map(([pu, dO], i) => ({
    PULocationID: pu,
    DOLocationID: dO,
    trip_distance: (i % 37) / 3,
  }));
  const odd: Array<[number, number]> = [
    [264, 1],
    [1, 1],
    [265, 265],
    [266, 1],
    [1, 266],
    [100_000, 7],
    [2 ** 40, 7],
    [Number.MAX_SAFE_INTEGER, 1],
    [7, 2 ** 33 + 7],
  ];
  if (!integerIds) odd.push([130.5, 7], [7, 1e-9], [130, 7.25]);
  for (const [pu, dO] of odd)
    rides.push({ PULocationID: pu, DOLocationID: dO, trip_distance: 2.5 });
  return rides;
}

/** What the checks below read of MLmodel. */
interface MLmodelFile {
  flavors: { python_function: { python_version: string } } & Record<string, unknown>;
  mlflow_version: string;
  model_uuid: string;
  utc_time_created: string;
  saved_input_example_info: unknown;
  model_size_bytes: number;
  signature: { inputs: string; outputs: string; params: unknown };
  mldeploy: { inputs: ColumnSpec[] };
}

interface Case {
  name: string;
  bundle: string;
  predictor: Predictor;
  rides: Ride[];
  /** The fitted model's own predictions for the rides (TS trainer or the Python pickle). */
  reference: () => number[];
  ops: string[];
}

const cases: Case[] = [];

beforeAll(async () => {
  const trained = await rideModel();
  const trainedRides = probeRides(
    trained.model.categories
      .slice(0, 200)
      .map((pair) => pair.split("_").map(Number) as [number, number]),
    true,
  );
  cases.push({
    name: "trained by mldeploy train",
    bundle: trained.bundlePath,
    predictor: await loadPredictor(trained.bundlePath),
    rides: trainedRides,
    reference: () =>
      Array.from(
        predictLinear(
          trained.model,
          trainedRides.map((r) => `${r.PULocationID}_${r.DOLocationID}`),
          [Float64Array.from(trainedRides, (r) => r.trip_distance)],
        ),
      ),
    ops: ["LabelEncoder", "Gather", "Clip", "Where"],
  });
  if (MISSING_SKLEARN) return;
  const models = await originalModels(ORIGINAL_ROOT, 20_000, 17);
  const out = path.join(tempDir("mldeploy-self-contained-"), "lin_reg");
  await importToBundle(models.linear, { out, features: [PU_DO], output: "duration" });
  const trips = JSON.parse(readFileSync(models.rides, "utf8")) as Record<string, number[]>;
  const known: Array<[number, number]> = Array.from({ length: 200 }, (_, i) => [
    trips.PULocationID[i * 53],
    trips.DOLocationID[i * 53],
  ]);
  const importedRides = probeRides(known, false);
  cases.push({
    name: "imported from lin_reg.bin (DictVectorizer, LinearRegression) with --feature PU_DO",
    bundle: out,
    predictor: await loadPredictor(out),
    rides: importedRides,
    reference: () =>
      JSON.parse(
        runPython(ORIGINAL_PREDICT, [models.linear], JSON.stringify(importedRides)),
      ) as number[],
    ops: ["LabelEncoder", "Floor", "Clip", "Where", "MatMul"],
  });
}, 600_000);

afterAll(async () => {
  for (const each of cases) await each.predictor.close();
});

describe("self-contained bundles (issue 19 §2; mlflow/onnx/__init__.py _OnnxModelWrapper.predict)", () => {
  it("cover a trained bundle and, with scikit-learn, the imported original pipeline", () => {
    if (MISSING_SKLEARN) console.warn(`imported pipeline skipped: ${MISSING_SKLEARN}`);
    expect(cases.length).toBe(MISSING_SKLEARN ? 1 : 2);
  });

  it("keep no feature map: the signature, mldeploy.inputs and the graph's inputs are the request columns", async () => {
    for (const each of cases) {
      const bundle = await readBundle(each.bundle);
      expect(bundle.mldeploy?.features, each.name).toBeUndefined();
      const request = bundle.mldeploy!.inputs.map((c) => c.name);
      expect(
        bundle.signature?.inputs.map((c) => c.name),
        each.name,
      ).toEqual(request);
      expect(each.predictor.info.inputs.map((c) => c.name)).toEqual(request);
      expect(request.slice().sort(), each.name).toEqual([
        "DOLocationID",
        "PULocationID",
        "trip_distance",
      ]);
    }
  });

  it("predict what the fitted model predicts, to 1e-9, unknown routes and impossible ids included", async () => {
    for (const each of cases) {
      const ours = await each.predictor.predictRecords(each.rides);
      expectClose(ours.values as Float64Array, each.reference());
    }
  });

  it("run in onnxruntime fed the request columns directly, as mldeploy predicts", async () => {
    for (const each of cases) {
      const columns = each.predictor.info.inputs;
      const direct = await onnxruntimeRun(
        each.bundle,
        each.rides,
        columns,
        each.predictor.info.output,
      );
      const ours = await each.predictor.predictRecords(each.rides);
      expectClose(direct, ours.values as Float64Array, 0);
    }
  });

  describe.skipIf(!ONNX_CHECKER_AVAILABLE)("read by Debian's python3-onnx 1.12", () => {
    it("passes check_model(full_check=True) and strict shape inference, takes 1-D request columns of the signature's types, and computes mldeploy's predictions in numpy", async () => {
      for (const each of cases) {
        const columns = each.predictor.info.inputs;
        const run = numpyRun(each.bundle, each.rides, columns, each.predictor.info.output);
        const elem: Record<string, number> = { long: 7, double: 11 };
        expect(run.inputs, each.name).toEqual(
          columns.map((c) => ({ name: c.name, elem_type: elem[c.type], dims: ["N"] })),
        );
        for (const op of each.ops) expect(run.ops, each.name).toContain(op);
        const ours = await each.predictor.predictRecords(each.rides);
        expectClose(run.predictions, ours.values as Float64Array);
      }
    });
  });
  if (!ONNX_CHECKER_AVAILABLE) it.skip(NO_ONNX_CHECKER, () => {});

  it("answer the bundle's serving_input_example.json and input_example.json on /invocations (mlflow/models/utils.py _Example)", async () => {
    for (const each of cases) {
      const app = await buildServer(await loadPredictor(each.bundle));
      try {
        const serving = readFileSync(path.join(each.bundle, "serving_input_example.json"), "utf8");
        const example = JSON.parse(
          readFileSync(path.join(each.bundle, "input_example.json"), "utf8"),
        ) as {
          columns: string[];
          data: unknown[][];
        };
        const records = example.data.map((row) =>
          Object.fromEntries(example.columns.map((c, i) => [c, row[i]])),
        );
        const expected = Array.from(
          (await each.predictor.predictRecords(records)).values as Float64Array,
        );
        for (const payload of [serving, JSON.stringify({ dataframe_split: example })]) {
          const response = await app.inject({
            method: "POST",
            url: "/invocations",
            headers: { "content-type": "application/json" },
            payload,
          });
          expect(response.statusCode, `${each.name}: ${response.body}`).toBe(200);
          const body = JSON.parse(response.body) as { predictions: unknown[] };
          // A number per row, or a record of the output column (a DataFrame's predictions).
          const values = body.predictions.map((p) =>
            typeof p === "number" ? p : Number(Object.values(p as Record<string, unknown>)[0]),
          );
          expectClose(values, expected);
        }
      } finally {
        await app.close();
      }
    }
  });
});

describe("MLmodel and environment files as mlflow.onnx.save_model writes them (mlflow/onnx/__init__.py save_model)", () => {
  it("holds the files and MLmodel keys MLflow's loaders read", () => {
    for (const each of cases) {
      const files = readdirSync(each.bundle).sort();
      expect(files, each.name).toEqual([
        "MLmodel",
        "conda.yaml",
        "input_example.json",
        "model.onnx",
        "python_env.yaml",
        "requirements.txt",
        "serving_input_example.json",
      ]);
      const mlmodel = parseYaml(
        readFileSync(path.join(each.bundle, "MLmodel"), "utf8"),
      ) as MLmodelFile;
      const pythonVersion = mlmodel.flavors.python_function.python_version as string;
      expect(pythonVersion).toMatch(/^3\.\d+\.\d+$/);
      expect(mlmodel.flavors).toEqual({
        onnx: {
          code: null,
          data: "model.onnx",
          onnx_session_options: null,
          onnx_version: "1.12.0",
          providers: ["CUDAExecutionProvider", "CPUExecutionProvider"],
        },
        python_function: {
          data: "model.onnx",
          env: { conda: "conda.yaml", virtualenv: "python_env.yaml" },
          loader_module: "mlflow.onnx",
          python_version: pythonVersion,
        },
      });
      expect(mlmodel.mlflow_version).toMatch(/^2\.\d+\.\d+$/);
      expect(mlmodel.model_uuid).toMatch(/^[0-9a-f]{32}$/);
      expect(mlmodel.utc_time_created).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      expect(mlmodel.saved_input_example_info).toEqual({
        artifact_path: "input_example.json",
        pandas_orient: "split",
        serving_input_path: "serving_input_example.json",
        type: "dataframe",
      });
      // get_total_file_size(path) just before MLmodel is written: the examples and the graph.
      const size = ["model.onnx", "input_example.json", "serving_input_example.json"]
        .map((file) => statSync(path.join(each.bundle, file)).size)
        .reduce((a, b) => a + b, 0);
      expect(mlmodel.model_size_bytes).toBe(size);
      const signature = JSON.parse(mlmodel.signature.inputs as string) as Array<
        Record<string, unknown>
      >;
      expect(signature.map((c) => c.name)).toEqual(
        mlmodel.mldeploy.inputs.map((c: ColumnSpec) => c.name),
      );
      expect(signature.every((c) => Object.keys(c).join() === "type,name,required")).toBe(true);
      expect(mlmodel.signature.params).toBeNull();

      const requirements = readFileSync(path.join(each.bundle, "requirements.txt"), "utf8").split(
        "\n",
      );
      expect(requirements[0]).toBe(`mlflow==${mlmodel.mlflow_version}`);
      expect(requirements.some((r) => r.startsWith("onnxruntime=="))).toBe(true);
      expect(requirements.some((r) => r.startsWith("onnx>=1.12.0"))).toBe(true);
      const conda = parseYaml(readFileSync(path.join(each.bundle, "conda.yaml"), "utf8"));
      expect(conda).toEqual({
        channels: ["conda-forge"],
        dependencies: [
          `python=${pythonVersion}`,
          expect.stringMatching(/^pip<=\d/),
          { pip: requirements },
        ],
        name: "mlflow-env",
      });
      const pythonEnv = parseYaml(readFileSync(path.join(each.bundle, "python_env.yaml"), "utf8"));
      expect(pythonEnv).toEqual({
        python: pythonVersion,
        build_dependencies: [
          expect.stringMatching(/^pip==/),
          expect.stringMatching(/^setuptools==/),
          expect.stringMatching(/^wheel==/),
        ],
        dependencies: ["-r requirements.txt"],
      });
      const example = JSON.parse(
        readFileSync(path.join(each.bundle, "input_example.json"), "utf8"),
      );
      const serving = JSON.parse(
        readFileSync(path.join(each.bundle, "serving_input_example.json"), "utf8"),
      );
      expect(serving).toEqual({ dataframe_split: example });
      expect(example.columns).toEqual(signature.map((c) => c.name));
    }
  });

  it("is byte for byte what PyYAML's safe_dump and Python's json.dumps write for the same content", () => {
    for (const each of cases) {
      const verdict = JSON.parse(runPython(PYTHON_DUMPS, [each.bundle])) as Record<string, boolean>;
      expect(verdict, each.name).toEqual({
        MLmodel: true,
        "conda.yaml": true,
        "python_env.yaml": true,
        "input_example.json": true,
        "serving_input_example.json": true,
      });
    }
  });
});

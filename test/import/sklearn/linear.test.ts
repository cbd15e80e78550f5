import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import {
  convertSklearn,
  readSklearnPickle,
  SUPPORTED_ESTIMATORS,
} from "../../../src/import/sklearn/convert.js";
import type { PyValue } from "../../../src/import/pickle/values.js";
import type { ConvertedModel } from "../../../src/import/types.js";
import {
  NO_PYTHON_LIBS,
  pythonFixture,
  pythonHasAll,
  readJson,
  sampleRidesJson,
  SYSTEM_PYTHON,
} from "../fixtures.js";

/**
 * scikit-learn's own models, fitted and pickled by Debian's python3-sklearn at test time,
 * converted to ONNX by mldeploy and run by onnxruntime: predictions within 1e-6 relative of
 * Python's predict / predict_proba on 10,000 rides (unknown location ids included), labels
 * identical, every graph accepted by onnx.checker (full_check).
 */
interface Reference {
  inputs: Record<string, Array<string | number>>;
  files: Record<string, string>;
  prediction?: number[];
  label?: Array<string | number>;
  probabilities?: number[][];
}

const HAVE_PYTHON = pythonHasAll("sklearn", "joblib", "cloudpickle", "numpy", "onnx", "xgboost");
const SCRIPT = readFileSync(new URL("./fit-linear.py", import.meta.url), "utf8");
const graphs = mkdtempSync(path.join(os.tmpdir(), "mldeploy-sklearn-graphs-"));

let fixtureDir: string;

function load(file: string): PyValue {
  return readSklearnPickle(readFileSync(path.join(fixtureDir, file)), { source: file });
}

async function run(model: ConvertedModel, inputs: Reference["inputs"]) {
  const session = await ort.InferenceSession.create(model.onnx);
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of model.inputs) {
    const values = inputs[spec.name];
    expect(values, `fixture lacks column ${spec.name}`).toBeDefined();
    feeds[spec.name] =
      spec.type === "string"
        ? new ort.Tensor("string", values.map(String), [values.length])
        : new ort.Tensor("float64", Float64Array.from(values, Number), [values.length]);
  }
  return session.run(feeds);
}

function expectClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1e-9);
    if (!(error <= worst)) {
      worst = error;
      at = i;
    }
  }
  expect(
    worst,
    `${what}: worst relative error at ${at}: ${actual[at]} vs ${expected[at]}`,
  ).toBeLessThanOrEqual(1e-6);
}

/**
 * Converts the model from each file Python saved it to (pickle protocols, joblib plain and
 * compressed, cloudpickle): every container must give the very same graph.
 */
function convertEvery(reference: Reference, options?: { name?: string }): ConvertedModel {
  const [first, ...others] = Object.values(reference.files);
  const model = convertSklearn(load(first), options);
  for (const file of others) {
    expect(
      Buffer.from(convertSklearn(load(file), options).onnx).equals(Buffer.from(model.onnx)),
      file,
    ).toBe(true);
  }
  return model;
}

const REGRESSORS = [
  "lin_reg",
  "ct_ridge",
  "ct_drop_first_ridge",
  "dv_lasso",
  "dv_elasticnet",
  "ct_sgd",
  "ct_numeric_scaled_ridge",
  "bare_linear",
  "bare_named_linear",
  "dv_forest",
  "dv_xgboost",
  "ct_xgboost",
];
const CLASSIFIERS = [
  "ct_logistic_binary",
  "ct_logistic_binary_multinomial",
  "dv_logistic_3",
  "ct_logistic_3_ovr",
];

describe.skipIf(!HAVE_PYTHON)("scikit-learn transformers and linear models → ONNX", () => {
  let references: Record<string, Reference>;

  beforeAll(async () => {
    fixtureDir = await pythonFixture(SCRIPT, await sampleRidesJson(20_000));
    references = await readJson(path.join(fixtureDir, "models.json"));
  }, 600_000);

  it.each(REGRESSORS)("%s predicts as sklearn's predict", async (name) => {
    const reference = references[name];
    const model = convertEvery(reference, { name: "duration" });
    writeFileSync(path.join(graphs, `${name}.onnx`), model.onnx);
    expect(model.kind).toBe("regressor");
    expect(model.outputs).toEqual([{ name: "duration", type: "double" }]);
    expect(model.library).toEqual({ name: "scikit-learn", version: "1.2.1" });
    const result = await run(model, reference.inputs);
    expectClose(result.duration.data as Float64Array, reference.prediction as number[], name);
  });

  it.each(CLASSIFIERS)("%s gives sklearn's labels and predict_proba", async (name) => {
    const reference = references[name];
    const model = convertEvery(reference);
    writeFileSync(path.join(graphs, `${name}.onnx`), model.onnx);
    expect(model.kind).toBe("classifier");
    const result = await run(model, reference.inputs);
    const labels = Array.from(result.label.data as ArrayLike<string | number | bigint>, (v) =>
      typeof v === "bigint" ? Number(v) : v,
    );
    expect(labels).toEqual(reference.label);
    const probabilities = reference.probabilities as number[][];
    expect(result.probabilities.dims).toEqual([probabilities.length, model.classes?.length]);
    expectClose(
      result.probabilities.data as Float64Array,
      probabilities.flat(),
      `${name} probabilities`,
    );
  });

  it("describes the original service's (dv, lr) tuple and its request columns", () => {
    const model = convertSklearn(load(references.lin_reg.files["pickle-default"]));
    expect(model.estimator).toBe("(DictVectorizer, LinearRegression)");
    expect(model.inputs).toEqual([
      { name: "PU_DO", type: "string" },
      { name: "trip_distance", type: "double" },
    ]);
    expect(model.outputs).toEqual([{ name: "prediction", type: "double" }]);
  });

  it("describes pipelines and classifiers", () => {
    const ct = convertSklearn(load(references.ct_logistic_binary.files["pickle4"]));
    expect(ct.estimator).toBe(
      "Pipeline(ColumnTransformer(OneHotEncoder, StandardScaler), LogisticRegression(2 classes))",
    );
    expect(ct.classes).toEqual([0, 1]);
    expect(ct.outputs).toEqual([
      { name: "label", type: "long" },
      { name: "probabilities", type: "double" },
    ]);
    const three = convertSklearn(load(references.dv_logistic_3.files["pickle4"]));
    expect(three.classes).toEqual(["long", "medium", "short"]);
    expect(three.outputs[0]).toEqual({ name: "label", type: "string" });
    const forest = convertSklearn(load(references.dv_forest.files["pickle4"]));
    expect(forest.estimator).toMatch(/^Pipeline\(DictVectorizer, RandomForestRegressor\(10 trees/);
    const bare = convertSklearn(load(references.bare_linear.files["pickle4"]));
    expect(bare.inputs.map((i) => i.name)).toEqual(["x0", "x1", "x2"]);
    expect(bare.estimator).toBe("LinearRegression");
    const named = convertSklearn(load(references.bare_named_linear.files["pickle4"]));
    expect(named.inputs).toEqual([
      { name: "trip_distance", type: "double" },
      { name: "PULocationID", type: "double" },
    ]);
  });

  it("refuses an estimator outside the list, naming it and the supported ones", () => {
    // Refused by the reader's allow-list before anything is built…
    expect(() => load("svr.pickle4")).toThrow(
      /^svr\.pickle4: sklearn\.svm\._classes\.SVR is not supported by mldeploy; supported are: Pipeline, DictVectorizer, /,
    );
    // …and by the dispatcher for an object that got past it.
    const svr: PyValue = {
      kind: "object",
      className: "sklearn.svm._classes.SVR",
      args: [],
      state: new Map(),
    };
    const call = () => convertSklearn({ kind: "tuple", items: [svr] });
    expect(call).toThrow(
      /^sklearn\.svm\._classes\.SVR is not supported by mldeploy; supported are: Pipeline, DictVectorizer, OneHotEncoder, StandardScaler, ColumnTransformer, LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LogisticRegression/,
    );
    expect(SUPPORTED_ESTIMATORS).toContain("LogisticRegression");
  });

  it("every graph passes onnx.checker.check_model(full_check=True)", () => {
    const script =
      "import onnx, sys, glob\n" +
      "for f in sorted(glob.glob(sys.argv[1] + '/*.onnx')):\n" +
      "    onnx.checker.check_model(onnx.load(f), full_check=True)\n" +
      "    print(f)\n";
    const checked = execFileSync(SYSTEM_PYTHON, ["-c", script, graphs], { encoding: "utf8" });
    expect(checked.trim().split("\n")).toHaveLength(REGRESSORS.length + CLASSIFIERS.length);
  });
});

if (!HAVE_PYTHON) console.warn(NO_PYTHON_LIBS);

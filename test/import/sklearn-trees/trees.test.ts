import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GraphBuilder } from "../../../src/import/onnx/graph.js";
import type { PyObject, PyValue } from "../../../src/import/pickle/values.js";
import { matrixFromInputs, type FeatureMatrix } from "../../../src/import/sklearn/stage.js";
import { TREE_CLASSES, TREE_DESCRIBERS } from "../../../src/import/sklearn/trees/index.js";
import { ImportError } from "../../../src/import/types.js";
import {
  NO_PYTHON_LIBS,
  pythonFixture,
  pythonHasAll,
  readJson,
  sampleRidesJson,
} from "../fixtures.js";
import { tempDir } from "../../helpers/temp.js";
import { TREES_FIXTURE_SCRIPT } from "./fixture-script.js";
import { buildGraph, checkModels, compareNumbers, RIDE_COLUMNS, runGraph } from "./helpers.js";
import { fromMirror } from "./mirror.js";

interface Expected {
  kind: "regressor" | "classifier";
  predict: Array<number | string>;
  proba?: number[][];
  classes?: Array<number | string>;
  columns?: Array<Array<number | null>>;
}

const MODELS = [
  "dt_reg",
  "dt_clf_binary",
  "dt_clf_three",
  "rf_reg",
  "rf_clf_binary",
  "rf_clf_three",
  "et_reg",
  "et_clf_binary",
  "et_clf_three",
  "gb_reg",
  "gb_reg_huber_zero",
  "gb_reg_quantile",
  "gb_clf_binary",
  "gb_clf_exponential",
  "gb_clf_three",
  "gb_clf_three_zero",
  "gb14_reg",
  "gb14_clf_binary",
  "gb14_clf_three",
];

const hasPython = pythonHasAll("sklearn", "joblib", "onnx");

describe.skipIf(!hasPython)(`sklearn tree models → ONNX ${hasPython ? "" : NO_PYTHON_LIBS}`, () => {
  let dir = "";
  let X: Record<string, Float64Array> = {};
  const built: Record<string, Uint8Array> = {};

  beforeAll(async () => {
    dir = await pythonFixture(TREES_FIXTURE_SCRIPT, await sampleRidesJson(20_000));
    const json = await readJson<{ columns: number[][] }>(path.join(dir, "X.json"));
    X = Object.fromEntries(
      RIDE_COLUMNS.map((name, j) => [name, Float64Array.from(json.columns[j])]),
    );
  }, 600_000);

  const load = async (name: string): Promise<PyObject> =>
    fromMirror(
      JSON.parse(await readFile(path.join(dir, `${name}.mirror.json`), "utf8")),
    ) as PyObject;

  it.each(MODELS)("%s: predictions match scikit-learn's on 10,000 rows", async (name) => {
    const estimator = await load(name);
    expect(TREE_CLASSES.has(estimator.className)).toBe(true);
    const expected = await readJson<Expected>(path.join(dir, `${name}.expected.json`));
    const { onnx, outputs } = buildGraph(estimator, (g) => matrixFromInputs(g, RIDE_COLUMNS));
    built[name] = onnx;
    const result = await runGraph(onnx, X);
    expect(outputs.kind).toBe(expected.kind);
    if (expected.kind === "regressor") {
      const { maxRelative, failures } = compareNumbers(
        result.prediction.data as Float64Array,
        expected.predict as number[],
      );
      console.log(
        `${name}: ${TREE_DESCRIBERS[estimator.className](estimator)}; max relative error ${maxRelative.toExponential(2)}`,
      );
      expect(failures).toBe(0);
      return;
    }
    const labels = Array.from(result.label.data as ArrayLike<number | bigint | string>, (v) =>
      typeof v === "bigint" ? Number(v) : v,
    );
    expect(labels).toEqual(expected.predict);
    expect(outputs.kind === "classifier" && outputs.classes).toEqual(expected.classes);
    const { maxRelative, failures } = compareNumbers(
      result.probabilities.data as Float64Array,
      (expected.proba ?? []).flat(),
    );
    console.log(
      `${name}: ${TREE_DESCRIBERS[estimator.className](estimator)}; labels identical, max relative error of probabilities ${maxRelative.toExponential(2)}`,
    );
    expect(failures).toBe(0);
  });

  it("scikit-learn 1.3 layout: missing_go_to_left routes NaN as 1.3's Tree.apply does", async () => {
    const estimator = await load("rf13_missing");
    const tree = (estimator.state.get("estimators_") as PyValue[])[0] as PyObject;
    const nodes = (tree.state.get("tree_") as PyObject).state.get("nodes") as {
      dtype: { names?: string[] };
    };
    expect(nodes.dtype.names).toContain("missing_go_to_left");
    const expected = await readJson<Expected>(path.join(dir, "rf13_missing.expected.json"));
    const columns = Object.fromEntries(
      RIDE_COLUMNS.map((name, j) => [
        name,
        Float64Array.from(expected.columns?.[j] ?? [], (v) => (v === null ? NaN : v)),
      ]),
    );
    const nanRows = columns.trip_distance.filter(Number.isNaN).length;
    expect(nanRows).toBeGreaterThan(100);
    const { onnx } = buildGraph(estimator, (g) => matrixFromInputs(g, RIDE_COLUMNS));
    built.rf13_missing = onnx;
    const result = await runGraph(onnx, columns);
    const { maxRelative, failures } = compareNumbers(
      result.prediction.data as Float64Array,
      expected.predict as number[],
    );
    console.log(`rf13_missing: max relative error ${maxRelative.toExponential(2)}`);
    expect(failures).toBe(0);
  });

  it("the MLflow variant's forest after a DictVectorizer: PU_DO splits compare codes, same answers", async () => {
    const estimator = await load("mlflow_rf");
    const expected = await readJson<Expected & { vocabulary: Array<[string, number]> }>(
      path.join(dir, "mlflow_rf.expected.json"),
    );
    // X as the DictVectorizer makes it, kept as codes: PU_DO → one code column (unknown -1).
    const categories = expected.vocabulary
      .map(([feature]) => feature)
      .filter((f) => f.startsWith("PU_DO="))
      .map((f) => f.slice("PU_DO=".length));
    const codeOf = new Map(categories.map((c, i) => [c, i]));
    const makeX = (graph: GraphBuilder): FeatureMatrix => {
      const base = matrixFromInputs(graph, ["PU_DO_code", "trip_distance"]);
      return {
        ...base,
        features: expected.vocabulary.map(([feature]) =>
          feature.startsWith("PU_DO=")
            ? { kind: "indicator", column: 0, code: codeOf.get(feature.slice(6)) ?? -1 }
            : { kind: "value", column: 1 },
        ),
        names: expected.vocabulary.map(([feature]) => feature),
      };
    };
    global.gc?.();
    const heapBefore = process.memoryUsage();
    const started = performance.now();
    const { onnx } = buildGraph(estimator, makeX);
    const seconds = (performance.now() - started) / 1000;
    const heapAfter = process.memoryUsage();
    const megabytes = (heapAfter.rss - heapBefore.rss) / 2 ** 20;
    console.log(
      `mlflow_rf: ${TREE_DESCRIBERS[estimator.className](estimator)}, ${expected.vocabulary.length} DictVectorizer columns; ` +
        `converted in ${seconds.toFixed(2)} s, RSS +${megabytes.toFixed(0)} MiB, ONNX ${(onnx.length / 2 ** 20).toFixed(1)} MiB`,
    );
    // Generous bounds (the are 5 s and 1 GiB; the benchmark is the real measure).
    expect(seconds).toBeLessThan(20);
    expect(megabytes).toBeLessThan(1024);
    built.mlflow_rf = onnx;

    const pu = X.PULocationID;
    const codes = Float64Array.from(pu, (p, i) => codeOf.get(`${p}_${X.DOLocationID[i]}`) ?? -1);
    const result = await runGraph(onnx, { PU_DO_code: codes, trip_distance: X.trip_distance });
    const { maxRelative, failures } = compareNumbers(
      result.prediction.data as Float64Array,
      expected.predict as number[],
    );
    console.log(`mlflow_rf: max relative error ${maxRelative.toExponential(2)}`);
    expect(failures).toBe(0);
  });

  it("every graph passes onnx 1.12's checker (full_check)", async () => {
    expect(Object.keys(built).length).toBeGreaterThan(MODELS.length);
    const out = await checkModels(tempDir("mldeploy-trees-check-"), built);
    expect(out).toBe(`checked ${Object.keys(built).length}`);
  }, 120_000);

  it("refuses multi-output trees and unknown losses, naming them", async () => {
    const estimator = await load("rf_reg");
    const multi = { ...estimator, state: new Map(estimator.state).set("n_outputs_", 2) };
    expect(() => buildGraph(multi, (g) => matrixFromInputs(g, RIDE_COLUMNS))).toThrow(
      /RandomForestRegressor: multi-output models \(n_outputs_=2\) are not supported/,
    );
    const gb = await load("gb_reg");
    const odd = {
      ...gb,
      state: new Map(gb.state).set("_loss", {
        kind: "object",
        className: "sklearn.ensemble._gb_losses.TweedieLoss",
        args: [],
        state: new Map(),
      }),
    };
    expect(() => buildGraph(odd, (g) => matrixFromInputs(g, RIDE_COLUMNS))).toThrow(ImportError);
    expect(() => buildGraph(odd, (g) => matrixFromInputs(g, RIDE_COLUMNS))).toThrow(
      /TweedieLoss is not supported/,
    );
  });
});

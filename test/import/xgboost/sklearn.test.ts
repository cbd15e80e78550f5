import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GraphBuilder } from "../../../src/import/onnx/graph.js";
import { readPickle } from "../../../src/import/pickle/read.js";
import type { PyObject } from "../../../src/import/pickle/values.js";
import { matrixFromInputs } from "../../../src/import/sklearn/stage.js";
import { ImportError } from "../../../src/import/types.js";
import { convertXgboostModel } from "../../../src/import/xgboost/convert.js";
import {
  XGBOOST_CLASSES,
  XGBOOST_CONVERTERS,
  XGBOOST_DESCRIBERS,
  xgboostBoosterBytes,
  type SparseFeatureMatrix,
} from "../../../src/import/xgboost/sklearn.js";
import {
  NO_PYTHON_LIBS,
  pythonFixture,
  pythonHasAll,
  readJson,
  sampleRidesJson,
} from "../fixtures.js";
import {
  checkOnnx,
  fixtureBytes,
  labelMismatches,
  runGraph,
  worstError,
  xgboostFixtures,
  type XgbFixtures,
} from "./fixtures.js";

/** Same bound and reasons as convert.test.ts: float32 sums in a different order. */
const TOLERANCE = 1e-6;

const HAS_LIBS = pythonHasAll("xgboost", "numpy", "scipy", "joblib", "onnx");
if (!HAS_LIBS) console.warn(`xgboost sklearn tests ${NO_PYTHON_LIBS}`);

let scratchDir: string | undefined;
/** Where the graphs go for the checker (the OS cleans its temp folder). */
async function scratch(): Promise<string> {
  scratchDir ??= await mkdtemp(path.join(os.tmpdir(), "mldeploy-xgb-sklearn-"));
  return scratchDir;
}

const NAMES = ["PULocationID", "DOLocationID", "trip_distance"];

function load(bytes: Uint8Array, source: string): PyObject {
  const value = readPickle(bytes, { allowedClasses: XGBOOST_CLASSES, source });
  if (
    typeof value !== "object" ||
    value === null ||
    Array.isArray(value) ||
    value.kind !== "object"
  ) {
    throw new Error(`${source} is not an object`);
  }
  return value;
}

/** The wrapper as the last stage after plain numeric columns, as convertSklearn composes it. */
function compile(estimator: PyObject): { onnx: Uint8Array; kind: string; classes?: unknown[] } {
  const graph = new GraphBuilder("test");
  const X = matrixFromInputs(graph, NAMES);
  const result = XGBOOST_CONVERTERS[estimator.className](estimator, graph, X);
  if (result.kind === "regressor") {
    graph.output(result.prediction, "prediction", "DOUBLE");
    return { onnx: graph.build(), kind: "regressor" };
  }
  graph.output(result.label, "label", result.labelType);
  graph.output(result.probabilities, "probabilities", "DOUBLE", ["N", result.classes.length]);
  return { onnx: graph.build(), kind: "classifier", classes: result.classes };
}

describe.skipIf(!HAS_LIBS)("pickled XGBRegressor / XGBClassifier (python3-xgboost 1.7)", () => {
  let fx: XgbFixtures;
  const graphs: string[] = [];

  beforeAll(async () => {
    fx = await xgboostFixtures();
  }, 600_000);

  it("lists the wrapper classes and the Booster for the pickle reader", () => {
    expect([...XGBOOST_CLASSES].sort()).toEqual([
      "xgboost.core.Booster",
      "xgboost.sklearn.XGBClassifier",
      "xgboost.sklearn.XGBRFClassifier",
      "xgboost.sklearn.XGBRFRegressor",
      "xgboost.sklearn.XGBRegressor",
    ]);
  });

  for (const container of ["pkl", "p2.pkl", "joblib"]) {
    it(`predicts as Python from .${container} (regressor, binary, 3-class, random forest)`, async () => {
      for (const name of ["reg", "cls", "multi", "rf"]) {
        const file = `${name}.${container}`;
        const estimator = load(await fixtureBytes(fx.dir, file), file);
        const compiled = compile(estimator);
        const onnxFile = path.join(await scratch(), `${file}.onnx`);
        await writeFile(onnxFile, compiled.onnx);
        graphs.push(onnxFile);
        const result = await runGraph(compiled.onnx, fx.rows);
        const expected = fx.predictions[name];
        if (compiled.kind === "regressor") {
          expect(worstError(result.prediction, expected.predict), file).toBeLessThanOrEqual(
            TOLERANCE,
          );
        } else {
          expect(compiled.classes).toEqual(name === "multi" ? [0, 1, 2] : [0, 1]);
          expect(labelMismatches(result.label, expected.predict), file).toBe(0);
          expect(worstError(result.probabilities, expected.proba ?? []), file).toBeLessThanOrEqual(
            TOLERANCE,
          );
        }
      }
    });
  }

  it("converts a bare pickled Booster through its snapshot bytes", async () => {
    const wrapper = load(await fixtureBytes(fx.dir, "reg.pkl"), "reg.pkl");
    const booster = wrapper.state.get("_Booster") as PyObject;
    const model = convertXgboostModel(xgboostBoosterBytes(booster), { featureNames: NAMES });
    expect(model.estimator).toBe(
      "XGBoost Booster(gbtree, reg:squarederror, 60 trees, 3 features; UBJSON)",
    );
    const result = await runGraph(model.onnx, fx.rows);
    expect(worstError(result.prediction, fx.predictions.reg.predict)).toBeLessThanOrEqual(
      TOLERANCE,
    );
    booster.state.set("handle", null);
    expect(() => xgboostBoosterBytes(booster)).toThrow(/holds no model/);
  });

  it("describes the wrapper with its booster", async () => {
    const estimator = load(await fixtureBytes(fx.dir, "multi.pkl"), "multi.pkl");
    expect(XGBOOST_DESCRIBERS[estimator.className](estimator)).toBe(
      "XGBClassifier(gbtree, multi:softprob, 180 trees, 3 classes, 3 features)",
    );
  });

  it("treats the wrapper's numeric `missing` as missing and NaN as a value, as XGBoost does", async () => {
    const estimator = load(await fixtureBytes(fx.dir, "reg_missing.pkl"), "reg_missing.pkl");
    const compiled = compile(estimator);
    const rows = Object.fromEntries(
      Object.entries(fx.rows).map(([k, v]) => [k, v.map((x) => x ?? -1)]),
    );
    const result = await runGraph(compiled.onnx, rows);
    expect(worstError(result.prediction, fx.predictions.reg_missing.predict)).toBeLessThanOrEqual(
      TOLERANCE,
    );
  });

  it("refuses a wrapper whose feature count differs from the matrix before it", async () => {
    const estimator = load(await fixtureBytes(fx.dir, "reg.pkl"), "reg.pkl");
    const graph = new GraphBuilder("test");
    const X = matrixFromInputs(graph, ["a", "b"]);
    expect(() => XGBOOST_CONVERTERS[estimator.className](estimator, graph, X)).toThrow(
      /the booster has 3 features but the stages before it give 2/,
    );
  });

  it("every graph passes onnx.checker.check_model(full_check=True)", async () => {
    expect(graphs.length).toBe(12);
    await checkOnnx(graphs);
  }, 120_000);
});

/**
 * One-hot input: XGBoost fitted on [trip_distance, PULocationID one-hot] given as a scipy
 * CSR matrix (as DictVectorizer(sparse=True) gives it: numeric values stored, a one-hot 0
 * not stored, so MISSING to XGBoost) and as the same matrix made dense (0 is a value).
 */
const ONE_HOT_SCRIPT = String.raw`
import sys, json, pickle
import numpy as np, scipy.sparse as sp, xgboost as xgb
out, rides = sys.argv[1], json.load(open(sys.argv[2]))
pu = np.asarray(rides["PULocationID"], dtype=np.int64)
dist = np.asarray(rides["trip_distance"], dtype=np.float64)
y = np.asarray(rides["duration"], dtype=np.float64)
cats = np.unique(pu[:5000])            # later rows may hold categories unseen at fit: code -1
code = np.searchsorted(cats, pu); code[(code >= len(cats)) | (cats[np.minimum(code, len(cats) - 1)] != pu)] = -1
rows = np.arange(len(y))
# DictVectorizer's layout: every numeric value stored (explicit zeros too), one 1 per category.
data = np.concatenate([dist, np.ones((code >= 0).sum())])
cols = np.concatenate([np.zeros(len(y), dtype=np.int64), 1 + code[code >= 0]])
rr = np.concatenate([rows, rows[code >= 0]])
X = sp.csr_matrix((data, (rr, cols)), shape=(len(y), 1 + len(cats)))
X.sort_indices()
params = dict(n_estimators=40, max_depth=6, random_state=0)
sparse_model = xgb.XGBRegressor(**params).fit(X, y)
dense_model = xgb.XGBRegressor(**params).fit(X.toarray(), y)
pickle.dump(sparse_model, open(out + "/sparse.pkl", "wb"))
pickle.dump(dense_model, open(out + "/dense.pkl", "wb"))
S = slice(0, 10000)
json.dump({"categories": int(len(cats)), "code": [int(c) for c in code[S]],
           "trip_distance": [float(v) for v in dist[S]],
           "sparse": [float(v) for v in sparse_model.predict(X[S])],
           "dense": [float(v) for v in dense_model.predict(X[S].toarray())]},
          open(out + "/onehot.json", "w"))
`;

describe.skipIf(!HAS_LIBS)("XGBoost after a one-hot stage (indicator features)", () => {
  let dir: string;
  let data: {
    categories: number;
    code: number[];
    trip_distance: number[];
    sparse: number[];
    dense: number[];
  };
  beforeAll(async () => {
    dir = await pythonFixture(ONE_HOT_SCRIPT, await sampleRidesJson());
    data = await readJson(path.join(dir, "onehot.json"));
  }, 600_000);

  function compileOneHot(estimator: PyObject, sparse: boolean | undefined): Uint8Array {
    const graph = new GraphBuilder("onehot");
    const base = matrixFromInputs(graph, ["trip_distance", "pu_code"]);
    const X: SparseFeatureMatrix = {
      ...base,
      features: [
        { kind: "value", column: 0 },
        ...Array.from({ length: data.categories }, (_, code) => ({
          kind: "indicator" as const,
          column: 1,
          code,
        })),
      ],
      ...(sparse === undefined ? {} : { sparse }),
    };
    const result = XGBOOST_CONVERTERS[estimator.className](estimator, graph, X);
    if (result.kind !== "regressor") throw new Error("expected a regressor");
    graph.output(result.prediction, "prediction", "DOUBLE");
    return graph.build();
  }

  for (const kind of ["sparse", "dense"] as const) {
    it(`compares category codes (BRANCH_EQ) and predicts as XGBoost on a ${kind} matrix`, async () => {
      const estimator = load(await fixtureBytes(dir, `${kind}.pkl`), `${kind}.pkl`);
      const onnx = compileOneHot(estimator, kind === "sparse");
      const result = await runGraph(onnx, {
        trip_distance: data.trip_distance,
        pu_code: data.code,
      });
      expect(worstError(result.prediction, data[kind])).toBeLessThanOrEqual(TOLERANCE);
      if (kind === "sparse") {
        // Read as 0 instead of missing, the absent one-hot entries go elsewhere: the flag
        // matters. (A model fitted on a dense matrix learned no missing values, and its
        // default directions happen to follow 0, so reading it the other way changes nothing.)
        const wrong = compileOneHot(estimator, false);
        const wrongResult = await runGraph(wrong, {
          trip_distance: data.trip_distance,
          pu_code: data.code,
        });
        expect(worstError(wrongResult.prediction, data.sparse)).toBeGreaterThan(1e-3);
      }
      const file = path.join(await scratch(), `${kind}.onnx`);
      await writeFile(file, onnx);
      await checkOnnx([file]);
    });
  }

  it("refuses one-hot input when the stage does not say whether it was sparse", async () => {
    const estimator = load(await fixtureBytes(dir, "sparse.pkl"), "sparse.pkl");
    expect(() => compileOneHot(estimator, undefined)).toThrow(ImportError);
    expect(() => compileOneHot(estimator, undefined)).toThrow(/sparse matrix as missing/);
  });
});

/** dart wrappers: predict goes through inplace_predict, which adds ((base + leaf) − base) × weight. */
const DART_SCRIPT = String.raw`
import sys, json, pickle
import numpy as np, xgboost as xgb
out, rides = sys.argv[1], json.load(open(sys.argv[2]))
names = ["PULocationID", "DOLocationID", "trip_distance"]
X = np.column_stack([np.asarray(rides[n], dtype=np.float64) for n in names])
X[:, 2][np.random.default_rng(3).random(len(X)) < 0.1] = np.nan
y = np.asarray(rides["duration"], dtype=np.float64)
params = dict(booster="dart", rate_drop=0.2, skip_drop=0.0, n_estimators=40, max_depth=6,
              random_state=0)
reg = xgb.XGBRegressor(base_score=7.3, **params).fit(X, y)
cls = xgb.XGBClassifier(**params).fit(X, (y > 15).astype(np.int64))
pickle.dump(reg, open(out + "/dart_reg.pkl", "wb"))
pickle.dump(cls, open(out + "/dart_cls.pkl", "wb"))
S = X[:10000]
json.dump({"rows": {n: [None if np.isnan(v) else float(v) for v in S[:, j]] for j, n in enumerate(names)},
           "reg": [float(v) for v in reg.predict(S)],
           "cls": [float(v) for v in cls.predict(S)],
           "cls_proba": [float(v) for v in cls.predict_proba(S).ravel()]},
          open(out + "/dart.json", "w"))
`;

describe.skipIf(!HAS_LIBS)("pickled dart wrappers", () => {
  it("predict as XGBRegressor / XGBClassifier(booster='dart') do", async () => {
    const dir = await pythonFixture(DART_SCRIPT, await sampleRidesJson());
    const data = await readJson<{
      rows: Record<string, Array<number | null>>;
      reg: number[];
      cls: number[];
      cls_proba: number[];
    }>(path.join(dir, "dart.json"));
    const reg = compile(load(await fixtureBytes(dir, "dart_reg.pkl"), "dart_reg.pkl"));
    const regOut = await runGraph(reg.onnx, data.rows);
    expect(worstError(regOut.prediction, data.reg)).toBeLessThanOrEqual(TOLERANCE);
    const cls = compile(load(await fixtureBytes(dir, "dart_cls.pkl"), "dart_cls.pkl"));
    const clsOut = await runGraph(cls.onnx, data.rows);
    expect(labelMismatches(clsOut.label, data.cls)).toBe(0);
    expect(worstError(clsOut.probabilities, data.cls_proba)).toBeLessThanOrEqual(TOLERANCE);
  }, 600_000);
});

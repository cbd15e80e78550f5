import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GraphBuilder } from "../../../src/import/onnx/graph.js";
import { readPickle } from "../../../src/import/pickle/read.js";
import type { PyObject } from "../../../src/import/pickle/values.js";
import { matrixFromInputs } from "../../../src/import/sklearn/stage.js";
import { convertXgboostModel } from "../../../src/import/xgboost/convert.js";
import { XGBOOST_CLASSES, XGBOOST_CONVERTERS } from "../../../src/import/xgboost/sklearn.js";
import {
  NO_PYTHON_LIBS,
  pythonFixture,
  pythonHasAll,
  readJson,
  sampleRidesJson,
} from "../fixtures.js";
import { fixtureBytes, labelMismatches, runGraph, worstError } from "./fixtures.js";

/** Same bound and reasons as convert.test.ts. */
const TOLERANCE = 1e-6;

const HAS_LIBS = pythonHasAll("xgboost", "numpy");
if (!HAS_LIBS) console.warn(`xgboost early-stopping tests ${NO_PYTHON_LIBS}`);

/**
 * Wrappers fitted with early stopping: their predict uses only rounds 0…best_iteration
 * (XGBModel._get_iteration_range), while the booster holds the later rounds too. Saved with
 * the wrapper's own save_model (the file carries a "scikit_learn" attribute, as
 * mlflow.xgboost saves an XGBRegressor/XGBClassifier) in JSON, UBJSON and the binary format,
 * and pickled.
 */
const SCRIPT = String.raw`
import sys, json, pickle
import numpy as np, xgboost as xgb
out, rides = sys.argv[1], json.load(open(sys.argv[2]))
names = ["PULocationID", "DOLocationID", "trip_distance"]
X = np.column_stack([np.asarray(rides[n], dtype=np.float64) for n in names])
y = np.asarray(rides["duration"], dtype=np.float64)
fit, val = slice(0, 15000), slice(15000, None)
targets = {"reg": y, "cls": (y > 15).astype(np.int64), "multi": np.digitize(y, [10, 20])}
preds = {}
for name, target in targets.items():
    cls = xgb.XGBRegressor if name == "reg" else xgb.XGBClassifier
    m = cls(n_estimators=300, max_depth=8, learning_rate=0.5, early_stopping_rounds=3,
            random_state=0)
    m.fit(X[fit], target[fit], eval_set=[(X[val], target[val])], verbose=False)
    for ext in ["json", "ubj", "xgb"]:
        m.save_model(out + "/" + name + "." + ext)
    pickle.dump(m, open(out + "/" + name + ".pkl", "wb"))
    S = X[:10000]
    preds[name] = {
        "best_iteration": int(m.best_iteration),
        "rounds": int(m.get_booster().num_boosted_rounds()),
        "predict": [float(v) for v in np.ravel(m.predict(S))],
        "proba": [float(v) for v in np.ravel(m.predict_proba(S))] if name != "reg" else [],
        "all_rounds": [float(v) for v in np.ravel(m.get_booster().predict(xgb.DMatrix(S)))],
    }
json.dump({n: [float(v) for v in X[:10000, j]] for j, n in enumerate(names)},
          open(out + "/rows.json", "w"))
json.dump(preds, open(out + "/predictions.json", "w"))
`;

interface Prediction {
  best_iteration: number;
  rounds: number;
  predict: number[];
  proba: number[];
  all_rounds: number[];
}

describe.skipIf(!HAS_LIBS)("early-stopped XGBoost wrappers predict with best_iteration", () => {
  let dir: string;
  let rows: Record<string, number[]>;
  let predictions: Record<string, Prediction>;
  beforeAll(async () => {
    dir = await pythonFixture(SCRIPT, await sampleRidesJson());
    rows = await readJson(path.join(dir, "rows.json"));
    predictions = await readJson(path.join(dir, "predictions.json"));
  }, 600_000);

  function check(
    name: string,
    result: Record<string, ArrayLike<number | bigint | string>>,
    kind: string,
  ) {
    const expected = predictions[name];
    if (kind === "regressor") {
      expect(worstError(result.prediction, expected.predict)).toBeLessThanOrEqual(TOLERANCE);
      // The later rounds would have changed the answer: the limit is really applied.
      expect(worstError(result.prediction, expected.all_rounds)).toBeGreaterThan(1e-4);
    } else {
      expect(labelMismatches(result.label, expected.predict)).toBe(0);
      expect(worstError(result.probabilities, expected.proba)).toBeLessThanOrEqual(TOLERANCE);
    }
  }

  it("stopped early (the fixtures are meaningful)", () => {
    for (const p of Object.values(predictions)) {
      expect(p.best_iteration + 1).toBeLessThan(p.rounds);
    }
  });

  for (const ext of ["json", "ubj", "xgb"]) {
    it(`reads the wrapper's own .${ext} file as the wrapper predicts`, async () => {
      for (const name of ["reg", "cls", "multi"]) {
        const model = convertXgboostModel(await fixtureBytes(dir, `${name}.${ext}`), {
          featureNames: ["PULocationID", "DOLocationID", "trip_distance"],
        });
        expect(model.kind).toBe(name === "reg" ? "regressor" : "classifier");
        check(name, await runGraph(model.onnx, rows), model.kind);
      }
    });
  }

  it("reads the pickled wrappers as they predict", async () => {
    for (const name of ["reg", "cls", "multi"]) {
      const value = readPickle(await fixtureBytes(dir, `${name}.pkl`), {
        allowedClasses: XGBOOST_CLASSES,
      }) as PyObject;
      const graph = new GraphBuilder("t");
      const X = matrixFromInputs(graph, ["PULocationID", "DOLocationID", "trip_distance"]);
      const result = XGBOOST_CONVERTERS[value.className](value, graph, X);
      if (result.kind === "regressor") graph.output(result.prediction, "prediction", "DOUBLE");
      else {
        graph.output(result.label, "label", result.labelType);
        graph.output(result.probabilities, "probabilities", "DOUBLE", ["N", result.classes.length]);
      }
      check(name, await runGraph(graph.build(), rows), result.kind);
    }
  });
});

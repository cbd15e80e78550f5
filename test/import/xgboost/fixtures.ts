import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import ort from "onnxruntime-node";
import { pythonFixture, readJson, sampleRidesJson, SYSTEM_PYTHON } from "../fixtures.js";

/**
 * XGBoost models fitted on the sample rides by Debian's python3-xgboost (1.7) at test time,
 * saved every way a user may have them, with Python's own predictions on 10,000 rows.
 *
 * Features are the three ride columns as numbers; 10 % of DOLocationID and trip_distance are
 * NaN in training and in the scored rows, so the trees learn default directions and the
 * scored rows take them. Targets: duration (regression), duration > 15 (binary) and a
 * 3-class bucket (< 10, 10–20, > 20 minutes).
 */
const SCRIPT = String.raw`
import sys, json, pickle, copy
import numpy as np, xgboost as xgb, joblib
out, rides = sys.argv[1], json.load(open(sys.argv[2]))
names = ["PULocationID", "DOLocationID", "trip_distance"]
X = np.column_stack([np.asarray(rides[n], dtype=np.float64) for n in names])
rng = np.random.default_rng(17)
X[:, 1][rng.random(len(X)) < 0.1] = np.nan
X[:, 2][rng.random(len(X)) < 0.1] = np.nan
y = np.asarray(rides["duration"], dtype=np.float64)
ybin = (y > 15).astype(np.int64)
y3 = np.digitize(y, [10, 20]).astype(np.int64)
S = X[:10000]
json.dump({n: [None if np.isnan(v) else float(v) for v in S[:, j]] for j, n in enumerate(names)},
          open(out + "/rows.json", "w"))
preds = {}
def f(a): return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]

def save_booster(name, booster):
    booster.save_model(out + "/" + name + ".json")
    booster.save_model(out + "/" + name + ".ubj")
    booster.save_model(out + "/" + name + ".xgb")          # the deprecated binary format
    open(out + "/" + name + ".raw", "wb").write(booster.save_raw())  # save_raw(): the same
    open(out + "/" + name + ".snapshot", "wb").write(booster.__getstate__()["handle"])

common = dict(n_estimators=60, max_depth=6, learning_rate=0.2, random_state=0)
reg = xgb.XGBRegressor(**common).fit(X, y)
cls = xgb.XGBClassifier(**common).fit(X, ybin)
multi = xgb.XGBClassifier(**common).fit(X, y3)
rf = xgb.XGBRFRegressor(n_estimators=20, max_depth=5, random_state=0).fit(X, y)
for name, m in [("reg", reg), ("cls", cls), ("multi", multi), ("rf", rf)]:
    save_booster(name, m.get_booster())
    pickle.dump(m, open(out + "/" + name + ".pkl", "wb"), protocol=4)
    pickle.dump(m, open(out + "/" + name + ".p2.pkl", "wb"), protocol=2)
    joblib.dump(m, out + "/" + name + ".joblib")
    preds[name] = {"predict": f(m.predict(S))}
    if hasattr(m, "predict_proba"):
        preds[name]["proba"] = f(m.predict_proba(S))
# A wrapper whose missing value is a number (-1): XGBoost treats -1 as missing, NaN as a value.
Xm = np.where(np.isnan(X), -1.0, X)
regm = xgb.XGBRegressor(missing=-1.0, **common).fit(Xm, y)
pickle.dump(regm, open(out + "/reg_missing.pkl", "wb"))
preds["reg_missing"] = {"predict": f(regm.predict(np.where(np.isnan(S), -1.0, S)))}

# Plain boosters from xgb.train with feature names, one per objective / booster.
dm = lambda label: xgb.DMatrix(X, label=label, feature_names=names)
dS = xgb.DMatrix(S, feature_names=names)
trained = {
    "poisson": ({"objective": "count:poisson"}, y),
    "logistic": ({"objective": "reg:logistic"}, y / 60.0),
    "logitraw": ({"objective": "binary:logitraw"}, ybin),
    "binary": ({"objective": "binary:logistic", "base_score": 0.3}, ybin),
    "softmax": ({"objective": "multi:softmax", "num_class": 3}, y3),
    "softprob": ({"objective": "multi:softprob", "num_class": 3}, y3),
    "huber": ({"objective": "reg:pseudohubererror"}, y),
    "linear": ({"objective": "reg:linear"}, y),
    "dart": ({"booster": "dart", "rate_drop": 0.2, "skip_drop": 0.0, "seed": 3}, y),
}
for name, (params, label) in trained.items():
    params = dict(params, max_depth=5, eta=0.3)
    b = xgb.train(params, dm(label), 30)
    save_booster(name, b)
    preds[name] = {"predict": f(b.predict(dS))}

# Refused: a linear booster and categorical splits.
xgb.train({"booster": "gblinear"}, dm(y), 3).save_model(out + "/gblinear.json")
xgb.train({"booster": "gblinear"}, dm(y), 3).save_model(out + "/gblinear.xgb")
Xc = X.copy(); Xc[:, 0] = np.mod(np.nan_to_num(Xc[:, 0]), 20)
dc = xgb.DMatrix(Xc, label=y, feature_types=["c", "q", "q"], enable_categorical=True)
xgb.train({"tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 4}, dc, 3).save_model(
    out + "/categorical.json")

# The XGBoost 2.x / 3.x JSON layouts, made from 1.7's as those versions' SaveModel write them.
def v2(doc):
    doc = copy.deepcopy(doc)
    doc["version"] = [2, 1, 4]
    learner = doc["learner"]
    booster = learner["gradient_booster"]
    model = booster["model"] if booster["name"] == "gbtree" else booster["gbtree"]["model"]
    # src/gbm/gbtree_model.cc (v2.0.0+) GBTreeModel::SaveModel: "iteration_indptr", the first
    # tree of each boosting round (1.7 derived it: num_parallel_tree x output groups per round).
    per_round = int(model["gbtree_model_param"]["num_parallel_tree"]) * max(
        1, int(learner["learner_model_param"]["num_class"]))
    n = int(model["gbtree_model_param"]["num_trees"])
    model["iteration_indptr"] = list(range(0, n + 1, per_round))
    # src/tree/tree_model.cc (v2.0.0+) RegTree::SaveModel: "split_type" and the categories
    # arrays come from SaveCategoricalSplit for every tree; the tree fields are unchanged.
    return doc

def v31(doc):
    doc = v2(doc)
    doc["version"] = [3, 1, 0]
    param = doc["learner"]["learner_model_param"]
    # src/learner.cc (v3.1.0) LearnerModelParamLegacy::ToJson writes base_score through
    # src/common/param_array.cc WriteStream: a JSON array, one intercept per output
    # (HandleOldFormat repeats a scalar for each class).
    outputs = max(1, int(param["num_class"]), int(param["num_target"]))
    v = float(param["base_score"])
    param["base_score"] = "[" + ",".join(["%.8E" % v] * outputs) + "]"
    return doc

for name in ["reg", "multi", "softmax", "dart"]:
    doc = json.load(open(out + "/" + name + ".json"))
    json.dump(v2(doc), open(out + "/" + name + ".v2.json", "w"))
    json.dump(v31(doc), open(out + "/" + name + ".v31.json", "w"))

json.dump(preds, open(out + "/predictions.json", "w"))
`;

export interface XgbFixtures {
  dir: string;
  rows: Record<string, Array<number | null>>;
  predictions: Record<string, { predict: number[]; proba?: number[] }>;
}

export async function xgboostFixtures(): Promise<XgbFixtures> {
  const dir = await pythonFixture(SCRIPT, await sampleRidesJson());
  return {
    dir,
    rows: await readJson(path.join(dir, "rows.json")),
    predictions: await readJson(path.join(dir, "predictions.json")),
  };
}

export const ROWS = 10_000;

/** Runs an ONNX graph on double columns (null = NaN); returns its outputs by name. */
export async function runGraph(
  onnx: Uint8Array,
  columns: Record<string, Array<number | null>>,
): Promise<Record<string, ArrayLike<number | bigint | string>>> {
  const session = await ort.InferenceSession.create(onnx);
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const values = columns[name];
    if (!values) throw new Error(`no column for graph input ${name}`);
    feeds[name] = new ort.Tensor(
      "float64",
      Float64Array.from(values, (v) => v ?? Number.NaN),
      [values.length],
    );
  }
  const result = await session.run(feeds);
  return Object.fromEntries(
    Object.entries(result).map(([name, tensor]) => [
      name,
      tensor.data as ArrayLike<number | bigint | string>,
    ]),
  );
}

/** Worst |a − e| / max(1, |e|) (absolute below 1, relative above). */
export function worstError(
  actual: ArrayLike<number | bigint | string>,
  expected: number[],
): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(Number(actual[i]) - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(error <= worst)) worst = error;
  }
  return worst;
}

/** How many labels differ. */
export function labelMismatches(
  actual: ArrayLike<number | bigint | string>,
  expected: number[],
): number {
  let n = actual.length === expected.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < expected.length; i++) if (Number(actual[i]) !== expected[i]) n++;
  return n;
}

/** onnx.checker.check_model(full_check=True) on every file in one Python process. */
export async function checkOnnx(files: string[]): Promise<void> {
  await promisify(execFile)(
    SYSTEM_PYTHON,
    [
      "-c",
      "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)",
      ...files,
    ],
    { timeout: 120_000 },
  );
}

export async function fixtureBytes(dir: string, file: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path.join(dir, file)));
}

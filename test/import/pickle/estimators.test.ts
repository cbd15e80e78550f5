import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  arrayAttr,
  fieldFloat64,
  isObject,
  numberAttr,
  objectAttr,
  sequenceItems,
  toFloat64,
  toValues,
} from "../../../src/import/pickle/access.js";
import { RefusedGlobalError } from "../../../src/import/pickle/errors.js";
import { inspectPickle } from "../../../src/import/pickle/read.js";
import type { NdArray, PyDict, PyObject, PyValue } from "../../../src/import/pickle/values.js";
import {
  NO_PYTHON_LIBS,
  pythonFixture,
  pythonHasAll,
  readJson,
  sampleRidesJson,
} from "../fixtures.js";

/**
 * Real fitted estimators, trained on the sample rides and saved every way users save them:
 * pickle (protocols 2–5), cloudpickle (as MLflow's sklearn flavor writes model.pkl) and joblib
 * (plain and zlib). mldeploy reads the attributes converters need, equal to Python's.
 */
const SCRIPT = `
import sys, os, json, pickle
import numpy as np, joblib, cloudpickle
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor
out = sys.argv[1]
rides = json.load(open(sys.argv[2]))
pu, do, dist = rides["PULocationID"], rides["DOLocationID"], rides["trip_distance"]
y = np.array(rides["duration"])
# The original service's features: PU_DO = PULocationID + "_" + DOLocationID, and the distance.
dicts = [{"PU_DO": "%d_%d" % (a, b), "trip_distance": d} for a, b, d in zip(pu, do, dist)]
dv = DictVectorizer()
lr = LinearRegression().fit(dv.fit_transform(dicts), y)
tree = DecisionTreeRegressor(max_depth=6, random_state=np.random.RandomState(1)).fit(np.c_[pu, do, dist], y)
models = {"dv_lr": (dv, lr), "tree": tree}
for name, model in models.items():
    for protocol in (2, 3, 4, 5):
        with open(os.path.join(out, "%s.p%d.pkl" % (name, protocol)), "wb") as f:
            pickle.dump(model, f, protocol=protocol)
    # mlflow.sklearn.save_model(serialization_format="cloudpickle") writes model.pkl so.
    with open(os.path.join(out, "%s.cloudpickle.pkl" % name), "wb") as f:
        cloudpickle.dump(model, f)
    joblib.dump(model, os.path.join(out, "%s.joblib" % name))
    joblib.dump(model, os.path.join(out, "%s.z.joblib" % name), compress=3)
t = tree.tree_
expected = {
    "coef": lr.coef_.tolist(), "intercept": float(lr.intercept_),
    "vocabulary": {k: int(v) for k, v in dv.vocabulary_.items()}, "feature_names": dv.feature_names_,
    "n_features_in": int(lr.n_features_in_), "version": __import__("sklearn").__version__,
    "tree": {"threshold": t.threshold.tolist(), "feature": t.feature.tolist(),
             "left": t.children_left.tolist(), "right": t.children_right.tolist(),
             "value": t.value.ravel().tolist(), "node_count": int(t.node_count),
             "max_depth": int(t.max_depth), "n_features": int(t.n_features)},
}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
`;

interface Expected {
  coef: number[];
  intercept: number;
  vocabulary: Record<string, number>;
  feature_names: string[];
  n_features_in: number;
  version: string;
  tree: {
    threshold: number[];
    feature: number[];
    left: number[];
    right: number[];
    value: number[];
    node_count: number;
    max_depth: number;
    n_features: number;
  };
}

const DICT_VECTORIZER = "sklearn.feature_extraction._dict_vectorizer.DictVectorizer";
const LINEAR_REGRESSION = "sklearn.linear_model._base.LinearRegression";
const TREE_REGRESSOR = "sklearn.tree._classes.DecisionTreeRegressor";
const TREE = "sklearn.tree._tree.Tree";
const ALLOWED = new Set([DICT_VECTORIZER, LINEAR_REGRESSION, TREE_REGRESSOR, TREE]);

const FORMATS = [
  { suffix: "p2.pkl", container: "pickle", protocol: 2 },
  { suffix: "p3.pkl", container: "pickle", protocol: 3 },
  { suffix: "p4.pkl", container: "pickle", protocol: 4 },
  { suffix: "p5.pkl", container: "pickle", protocol: 5 },
  { suffix: "cloudpickle.pkl", container: "pickle", protocol: 5 },
  { suffix: "joblib", container: "joblib", protocol: 4 },
  { suffix: "z.joblib", container: "joblib", protocol: 4 },
];

const HAS_PYTHON = pythonHasAll("sklearn", "joblib", "cloudpickle");

describe.skipIf(!HAS_PYTHON)(HAS_PYTHON ? "fitted scikit-learn estimators" : NO_PYTHON_LIBS, () => {
  let dir = "";
  let expected: Expected;
  beforeAll(async () => {
    dir = await pythonFixture(SCRIPT, await sampleRidesJson(5000));
    expected = await readJson<Expected>(path.join(dir, "expected.json"));
  });
  const read = (file: string, allowedClasses: ReadonlySet<string> = ALLOWED) =>
    inspectPickle(readFileSync(path.join(dir, file)), { allowedClasses, source: file });

  for (const { suffix, container, protocol } of FORMATS) {
    it(`reads the (DictVectorizer, LinearRegression) tuple from dv_lr.${suffix}`, () => {
      const contents = read(`dv_lr.${suffix}`);
      expect(contents.container).toBe(container);
      expect(contents.protocol).toBe(protocol);
      const [dv, lr] = sequenceItems(contents.value) as PyValue[];
      if (!isObject(dv, DICT_VECTORIZER) || !isObject(lr, LINEAR_REGRESSION))
        throw new Error("not (dv, lr)");

      expect(Array.from(toFloat64(arrayAttr(lr, "coef_")))).toEqual(expected.coef);
      expect(numberAttr(lr, "intercept_")).toBe(expected.intercept);
      expect(numberAttr(lr, "n_features_in_")).toBe(expected.n_features_in);
      expect(lr.state.get("_sklearn_version")).toBe(expected.version);
      const vocabulary = dv.state.get("vocabulary_") as PyDict;
      expect(Object.fromEntries(vocabulary.entries)).toEqual(expected.vocabulary);
      expect(dv.state.get("feature_names_")).toEqual(expected.feature_names);
      // DictVectorizer(dtype=np.float64) holds the class itself: an inert class reference.
      expect(dv.state.get("dtype")).toMatchObject({
        kind: "object",
        className: "numpy.float64",
        isClass: true,
      });
    });

    it(`reads the DecisionTreeRegressor and its Tree nodes from tree.${suffix}`, () => {
      const tree = read(`tree.${suffix}`).value as PyObject;
      expect(tree.className).toBe(TREE_REGRESSOR);
      const t = objectAttr(tree, "tree_", TREE);
      expect(t.args[0]).toBe(expected.tree.n_features);
      expect(numberAttr(t, "node_count")).toBe(expected.tree.node_count);
      expect(numberAttr(t, "max_depth")).toBe(expected.tree.max_depth);
      const nodes = arrayAttr(t, "nodes");
      expect(nodes.dtype.names).toEqual([
        "left_child",
        "right_child",
        "feature",
        "threshold",
        "impurity",
        "n_node_samples",
        "weighted_n_node_samples",
      ]);
      expect(Array.from(fieldFloat64(nodes, "threshold"))).toEqual(expected.tree.threshold);
      expect(Array.from(fieldFloat64(nodes, "feature"))).toEqual(expected.tree.feature);
      expect(Array.from(fieldFloat64(nodes, "left_child"))).toEqual(expected.tree.left);
      expect(Array.from(fieldFloat64(nodes, "right_child"))).toEqual(expected.tree.right);
      expect(Array.from(toFloat64(arrayAttr(t, "values")))).toEqual(expected.tree.value);
      // random_state=np.random.RandomState(1): inert data, never seeded or run.
      const state = tree.state.get("random_state");
      expect(state).toMatchObject({ kind: "object", className: "numpy.random.mtrand.RandomState" });
      const mt19937 = ((state as PyObject).state.get("state") as PyDict).entries.get("key");
      expect(toValues(mt19937 as NdArray)).toHaveLength(624);
    });
  }

  it("refuses the same files when the caller does not allow a class they hold", () => {
    const allowed = new Set([...ALLOWED].filter((name) => name !== TREE));
    for (const suffix of ["p2.pkl", "cloudpickle.pkl", "z.joblib"]) {
      let error: unknown;
      try {
        read(`tree.${suffix}`, allowed);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(RefusedGlobalError);
      expect((error as RefusedGlobalError).module).toBe("sklearn.tree._tree");
      expect((error as RefusedGlobalError).name).toBe("Tree");
      expect((error as Error).message).toMatch(
        new RegExp(
          `^tree\\.${suffix.replace(".", "\\.")}: refused to load: it asks for sklearn\\.tree\\._tree\\.Tree, which is not a model class`,
        ),
      );
    }
  });
});

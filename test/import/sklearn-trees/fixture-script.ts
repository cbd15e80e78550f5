/**
 * The Python side of the tree tests, run by /usr/bin/python3 (Debian's scikit-learn 1.2) at
 * test time: fits every tree model on the sample rides, saves each with pickle and joblib,
 * and writes sklearn's own predict / predict_proba for 10,000 rows.
 *
 * Files in the output directory, per model NAME:
 *   NAME.pkl (pickle protocol 5, or 2 where noted), NAME.joblib (joblib.dump, one compressed),
 *   NAME.expected.json {"kind", "predict": [...], "proba": [[...]...] | null, "classes": [...]}.
 * Plus X.json (the 10,000 scoring rows, columns of float64) and, for the DictVectorizer
 * pipeline, mlflow_rf.* with its own X (PU_DO strings + trip_distance).
 *
 * The scikit-learn 1.3 layout (nodes with missing_go_to_left) cannot be produced by 1.2; the
 * script writes it as 1.3 pickles it: Tree.__reduce__ gives (Tree, (n_features, n_classes,
 * n_outputs), {max_depth, node_count, nodes, values}) and 1.3's Tree.__setstate__ checks
 * `nodes` against NODE_DTYPE, which gained `missing_go_to_left` (uint8) after
 * weighted_n_node_samples, records padded to 64 bytes (sklearn/tree/_tree.pyx,
 * _check_node_ndarray; _tree.pxd's Node struct). Its expected predictions come from 1.3's
 * Tree._apply_dense walk written out in numpy (NaN → missing_go_to_left, else x <= threshold),
 * checked against 1.2's predict on rows without NaN.
 */
export const TREES_FIXTURE_SCRIPT = String.raw`
import sys, os, json, pickle, copyreg
import numpy as np
import joblib
from sklearn.tree import DecisionTreeRegressor, DecisionTreeClassifier
from sklearn.ensemble import (RandomForestRegressor, RandomForestClassifier, ExtraTreesRegressor,
    ExtraTreesClassifier, GradientBoostingRegressor, GradientBoostingClassifier)
from sklearn.pipeline import Pipeline
from sklearn.feature_extraction import DictVectorizer
from sklearn.tree._tree import Tree

out, rides_path = sys.argv[1], sys.argv[2]
rides = json.load(open(rides_path))
X_all = np.column_stack([np.asarray(rides[c], dtype=np.float64)
                         for c in ("PULocationID", "DOLocationID", "trip_distance")])
y_all = np.asarray(rides["duration"], dtype=np.float64)
n_fit = 8000
X, y = X_all[:n_fit], y_all[:n_fit]
X_score = X_all[-10000:]
json.dump({"columns": [list(map(float, X_score[:, j])) for j in range(3)]}, open(os.path.join(out, "X.json"), "w"))

y_binary = np.where(y > 12.0, "long", "short")
y_binary_int = (y > 12.0).astype(np.int64)
y_three = np.digitize(y, [8.0, 16.0]).astype(np.int64)
y_three_str = np.array(["short", "medium", "long"])[y_three]

# NAME.mirror.json: what pickle records of the model (its __reduce_ex__ graph) as JSON, so the
# converters are tested on the same object graph before and besides the pickle reader.
import base64
def mirror(obj):
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else {"$float": repr(obj)}
    if isinstance(obj, np.generic):
        return mirror(obj.item())
    if isinstance(obj, list):
        return {"$list": [mirror(v) for v in obj]}
    if isinstance(obj, tuple):
        return {"$tuple": [mirror(v) for v in obj]}
    if isinstance(obj, dict):
        return {"$dict": [[k, mirror(v)] for k, v in obj.items()]}
    if isinstance(obj, type):
        return {"$global": obj.__module__ + "." + obj.__qualname__}
    if isinstance(obj, np.random.RandomState):
        return {"$obj": "numpy.random.mtrand.RandomState", "args": [], "state": {}}
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        d = {"str": a.dtype.str, "itemsize": a.dtype.itemsize, "shape": list(a.shape),
             "fields": None if a.dtype.names is None else
                 [[n, a.dtype.fields[n][0].str, a.dtype.fields[n][1]] for n in a.dtype.names]}
        if a.dtype.kind in "OU":
            d["items"] = [mirror(v) for v in a.ravel().tolist()]
        else:
            d["data"] = base64.b64encode(a.tobytes()).decode()
        return {"$nd": d}
    reduced = obj.__reduce_ex__(2)
    func, args, state = reduced[0], reduced[1], reduced[2] if len(reduced) > 2 else None
    if getattr(func, "__name__", "") == "__newobj__":
        cls, args = args[0], args[1:]
    else:
        cls = func
    if isinstance(state, tuple):
        state = state[0] or {}
    return {"$obj": cls.__module__ + "." + cls.__qualname__, "args": [mirror(a) for a in args],
            "state": {k: mirror(v) for k, v in (state or {}).items()}}

def save(name, model, X_pred, protocol=5, compress=0):
    json.dump(mirror(model), open(os.path.join(out, name + ".mirror.json"), "w"))
    with open(os.path.join(out, name + ".pkl"), "wb") as f:
        pickle.dump(model, f, protocol=protocol)
    joblib.dump(model, os.path.join(out, name + ".joblib"), compress=compress)
    expected = {"predict": model.predict(X_pred).tolist()}
    if hasattr(model, "classes_"):
        expected["kind"] = "classifier"
        expected["proba"] = model.predict_proba(X_pred).tolist()
        expected["classes"] = model.classes_.tolist()
    else:
        expected["kind"] = "regressor"
    json.dump(expected, open(os.path.join(out, name + ".expected.json"), "w"))

save("dt_reg", DecisionTreeRegressor(max_depth=12, random_state=1).fit(X, y), X_score)
save("dt_clf_binary", DecisionTreeClassifier(max_depth=10, random_state=1).fit(X, y_binary), X_score, protocol=2)
save("dt_clf_three", DecisionTreeClassifier(min_samples_leaf=3, random_state=1).fit(X, y_three_str), X_score)
save("rf_reg", RandomForestRegressor(n_estimators=12, max_depth=10, random_state=1).fit(X, y), X_score)
save("rf_clf_binary", RandomForestClassifier(n_estimators=12, max_depth=10, random_state=1).fit(X, y_binary), X_score, compress=3)
save("rf_clf_three", RandomForestClassifier(n_estimators=12, min_samples_leaf=5, random_state=1).fit(X, y_three), X_score)
save("et_reg", ExtraTreesRegressor(n_estimators=12, max_depth=10, random_state=1).fit(X, y), X_score)
save("et_clf_binary", ExtraTreesClassifier(n_estimators=12, max_depth=10, random_state=1).fit(X, y_binary_int), X_score)
save("et_clf_three", ExtraTreesClassifier(n_estimators=12, min_samples_leaf=5, random_state=1).fit(X, y_three), X_score)
save("gb_reg", GradientBoostingRegressor(n_estimators=40, learning_rate=0.2, random_state=1).fit(X, y), X_score)
save("gb_reg_huber_zero", GradientBoostingRegressor(loss="huber", init="zero", n_estimators=30, random_state=1).fit(X, y), X_score)
save("gb_reg_quantile", GradientBoostingRegressor(loss="quantile", alpha=0.8, n_estimators=30, random_state=1).fit(X, y), X_score)
save("gb_clf_binary", GradientBoostingClassifier(n_estimators=40, random_state=1).fit(X, y_binary), X_score)
save("gb_clf_exponential", GradientBoostingClassifier(loss="exponential", n_estimators=30, learning_rate=0.3, random_state=1).fit(X, y_binary_int), X_score)
save("gb_clf_three", GradientBoostingClassifier(n_estimators=30, subsample=0.8, random_state=1).fit(X, y_three), X_score)
save("gb_clf_three_zero", GradientBoostingClassifier(init="zero", n_estimators=20, random_state=1).fit(X, y_three), X_score)

# The loss objects of scikit-learn >= 1.4 (sklearn._loss.loss, which 1.2 already has for its
# histogram boosting): the same fitted stages with the modern loss object in _loss. Expected
# outputs follow 1.4's GradientBoostingClassifier.predict (binary: raw >= 0; multiclass:
# argmax(raw)) and predict_proba (sigmoid / softmax of raw; a multinomial init of
# log(p / gmean(p)) instead of log(p) shifts every class alike, which softmax and argmax ignore).
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss, HalfSquaredError
def save_modern(name, model, loss):
    expected = {}
    if hasattr(model, "classes_"):
        raw = model.decision_function(X_score)
        encoded = (raw >= 0).astype(int) if raw.ndim == 1 else np.argmax(raw, axis=1)
        expected = {"kind": "classifier", "predict": model.classes_[encoded].tolist(),
                    "proba": model.predict_proba(X_score).tolist(), "classes": model.classes_.tolist()}
    else:
        expected = {"kind": "regressor", "predict": model.predict(X_score).tolist()}
    model._loss = loss
    json.dump(mirror(model), open(os.path.join(out, name + ".mirror.json"), "w"))
    with open(os.path.join(out, name + ".pkl"), "wb") as f:
        pickle.dump(model, f, protocol=5)
    joblib.dump(model, os.path.join(out, name + ".joblib"))
    json.dump(expected, open(os.path.join(out, name + ".expected.json"), "w"))
save_modern("gb14_reg", GradientBoostingRegressor(n_estimators=20, random_state=4).fit(X, y), HalfSquaredError())
save_modern("gb14_clf_binary", GradientBoostingClassifier(n_estimators=20, random_state=4).fit(X, y_binary), HalfBinomialLoss())
save_modern("gb14_clf_three", GradientBoostingClassifier(n_estimators=20, random_state=4).fit(X, y_three_str), HalfMultinomialLoss(n_classes=3))

# The MLflow variant: Pipeline(DictVectorizer, RandomForestRegressor(max_depth=20,
# n_estimators=100, min_samples_leaf=10)) on PU_DO + trip_distance, fitted on all sample rides.
def dicts(rows):
    return [{"PU_DO": "%d_%d" % (int(r[0]), int(r[1])), "trip_distance": float(r[2])} for r in rows]
pipeline = Pipeline([("dv", DictVectorizer()),
    ("rf", RandomForestRegressor(max_depth=20, n_estimators=100, min_samples_leaf=10, random_state=0, n_jobs=-1))])
pipeline.fit(dicts(X_all), y_all)
pipeline.set_params(rf__n_jobs=None)
with open(os.path.join(out, "mlflow_rf.pkl"), "wb") as f:
    pickle.dump(pipeline, f, protocol=5)
joblib.dump(pipeline, os.path.join(out, "mlflow_rf.joblib"))
json.dump(mirror(pipeline.named_steps["rf"]), open(os.path.join(out, "mlflow_rf.mirror.json"), "w"))
json.dump({"kind": "regressor", "predict": pipeline.predict(dicts(X_score)).tolist(),
           "vocabulary": sorted(pipeline.named_steps["dv"].vocabulary_.items(), key=lambda kv: kv[1])},
          open(os.path.join(out, "mlflow_rf.expected.json"), "w"))

# scikit-learn 1.3 layout: a forest whose trees carry missing_go_to_left.
NODE_DTYPE_13 = np.dtype({
    "names": ["left_child", "right_child", "feature", "threshold", "impurity",
              "n_node_samples", "weighted_n_node_samples", "missing_go_to_left"],
    "formats": ["<i8", "<i8", "<i8", "<f8", "<f8", "<i8", "<f8", "u1"],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 56],
    "itemsize": 64,
})
rng = np.random.RandomState(3)
forest13 = RandomForestRegressor(n_estimators=6, max_depth=8, random_state=2).fit(X, y)
rewritten = {}
for est in forest13.estimators_:
    cls, args, state = est.tree_.__reduce__()
    nodes = state["nodes"]
    nodes13 = np.zeros(nodes.shape[0], dtype=NODE_DTYPE_13)
    for name in nodes.dtype.names:
        nodes13[name] = nodes[name]
    nodes13["missing_go_to_left"] = rng.randint(0, 2, nodes.shape[0]).astype(np.uint8)
    rewritten[id(est.tree_)] = (cls, args, dict(state, nodes=nodes13))

class Pickler13(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, Tree) and id(obj) in rewritten:
            return rewritten[id(obj)]
        return NotImplemented

def apply13(reduced, Xf):
    nodes, values = reduced[2]["nodes"], reduced[2]["values"]
    out = np.empty(Xf.shape[0], dtype=np.float64)
    for i in range(Xf.shape[0]):
        n = 0
        while nodes["left_child"][n] != -1:
            x = Xf[i, nodes["feature"][n]]
            if np.isnan(x):
                n = nodes["left_child"][n] if nodes["missing_go_to_left"][n] else nodes["right_child"][n]
            elif x <= nodes["threshold"][n]:
                n = nodes["left_child"][n]
            else:
                n = nodes["right_child"][n]
        out[i] = values[n, 0, 0]
    return out

X13 = X_score[:2000].copy()
X13[rng.rand(*X13.shape) < 0.15] = np.nan
Xf13 = X13.astype(np.float32)
expected13 = sum(apply13(rewritten[id(e.tree_)], Xf13) for e in forest13.estimators_) / len(forest13.estimators_)
no_nan = ~np.isnan(X13).any(axis=1)
assert np.allclose(expected13[no_nan], forest13.predict(X13[no_nan]), rtol=1e-12, atol=0)
with open(os.path.join(out, "rf13_missing.pkl"), "wb") as f:
    Pickler13(f, protocol=5).dump(forest13)
m13 = mirror(forest13)
for tree_mirror, est in zip(m13["state"]["estimators_"]["$list"], forest13.estimators_):
    tree_mirror["state"]["tree_"]["state"]["nodes"] = mirror(rewritten[id(est.tree_)][2]["nodes"])
json.dump(m13, open(os.path.join(out, "rf13_missing.mirror.json"), "w"))
json.dump({"kind": "regressor", "predict": expected13.tolist(),
           "columns": [[None if np.isnan(v) else float(v) for v in X13[:, j]] for j in range(3)]},
          open(os.path.join(out, "rf13_missing.expected.json"), "w"))
`;

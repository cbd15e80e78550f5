# Fits the scikit-learn models mldeploy converts (transformers + linear models) on the sample
# rides and writes, into argv[1]: each model saved with pickle (protocols 4 and 5), joblib
# (plain and zlib-compressed) and cloudpickle, plus models.json with, per model, its request
# columns for 10,000 test rides and Python's predict / predict_proba on them. Test rides
# include location ids never seen in training (unknown categories).
import json
import os
import pickle
import sys

import cloudpickle
import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDRegressor,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.ensemble import RandomForestRegressor
from sklearn.svm import SVR

out, rides_path = sys.argv[1], sys.argv[2]
with open(rides_path) as f:
    rides = json.load(f)
n = len(rides["duration"])
half = n // 2
TEST = 10_000


class Frame:
    """The little of a pandas DataFrame that ColumnTransformer on named columns uses (Debian's
    Python here has no pandas): .columns with get_loc, .loc[:, names], .iloc[:, i], shape."""

    class _Columns(list):
        def get_loc(self, name):
            return self.index(name)

    class _Loc:
        def __init__(self, frame, by_name):
            self.frame, self.by_name = frame, by_name

        def __getitem__(self, key):
            _, cols = key
            f = self.frame
            if self.by_name:
                names = [cols] if isinstance(cols, str) else list(cols)
                if isinstance(cols, str):
                    return f.data[cols]
                return Frame({c: f.data[c] for c in names})
            if np.isscalar(cols):
                return f.data[f.columns[int(cols)]]
            return Frame({f.columns[int(i)]: f.data[f.columns[int(i)]] for i in cols})

    def __init__(self, data):
        self.data = {k: np.asarray(v) for k, v in data.items()}
        self.columns = Frame._Columns(self.data.keys())
        self.shape = (len(next(iter(self.data.values()))), len(self.columns))
        self.ndim = 2
        self.loc = Frame._Loc(self, True)
        self.iloc = Frame._Loc(self, False)

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None):
        return np.column_stack([self.data[c] for c in self.columns]).astype(dtype or object)

    def take(self, indices, axis):
        return self.iloc[:, indices]


pu = np.array(rides["PULocationID"], dtype=np.int64)
do = np.array(rides["DOLocationID"], dtype=np.int64)
dist = np.array(rides["trip_distance"], dtype=np.float64)
y = np.array(rides["duration"], dtype=np.float64)
train, test = slice(0, half), slice(half, half + TEST)

# Unknown categories in the test rows: every 37th ride comes from (or goes to) an id no ride
# in training has.
pu_test, do_test = pu[test].copy(), do[test].copy()
pu_test[::37] = 1000 + np.arange(len(pu_test[::37])) % 7
do_test[5::41] = 2000 + np.arange(len(do_test[5::41])) % 5


def dicts(p, d, km):
    return [{"PU_DO": f"{a}_{b}", "trip_distance": float(t)} for a, b, t in zip(p, d, km)]


def str_ids(p, d, km):
    return Frame({"PULocationID": p.astype(str).astype(object), "DOLocationID": d.astype(str).astype(object), "trip_distance": km})


dv_train = dicts(pu[train], do[train], dist[train])
dv_test = dicts(pu_test, do_test, dist[test])
dv_inputs = {"PU_DO": [r["PU_DO"] for r in dv_test], "trip_distance": dist[test].tolist()}
ct_train = str_ids(pu[train], do[train], dist[train])
ct_test = str_ids(pu_test, do_test, dist[test])
ct_inputs = {"PULocationID": [str(v) for v in pu_test], "DOLocationID": [str(v) for v in do_test], "trip_distance": dist[test].tolist()}


def rides_ct(drop=None, handle_unknown="ignore"):
    return ColumnTransformer(
        [
            ("ids", OneHotEncoder(handle_unknown=handle_unknown, drop=drop), ["PULocationID", "DOLocationID"]),
            ("distance", StandardScaler(), ["trip_distance"]),
        ]
    )


long_trip = (y[train] > 15).astype(np.int64)
three = np.where(y[train] < 10, "short", np.where(y[train] < 20, "medium", "long")).astype(object)

models = {}


def add(name, model, X_test, inputs, classifier=False, formats=("pickle4",)):
    entry = {"inputs": inputs, "files": {}}
    if classifier:
        entry["label"] = model.predict(X_test).tolist()
        entry["probabilities"] = model.predict_proba(X_test).tolist()
    else:
        entry["prediction"] = model.predict(X_test).tolist()
    for fmt in formats:
        path = os.path.join(out, f"{name}.{fmt}")
        if fmt == "pickle4":
            with open(path, "wb") as f:
                pickle.dump(model, f, protocol=4)
        elif fmt == "pickle5":
            with open(path, "wb") as f:
                pickle.dump(model, f, protocol=5)
        elif fmt == "pickle2":
            with open(path, "wb") as f:
                pickle.dump(model, f, protocol=2)
        elif fmt == "joblib":
            joblib.dump(model, path)
        elif fmt == "joblib-zlib":
            joblib.dump(model, path, compress=3)
        elif fmt == "cloudpickle":
            with open(path, "wb") as f:
                cloudpickle.dump(model, f)
        entry["files"][fmt] = os.path.basename(path)
    models[name] = entry


# The original service's lin_reg.bin: pickle.dump((dv, lr), f_out).
dv = DictVectorizer()
lr = LinearRegression().fit(dv.fit_transform(dv_train), y[train])


class Tuple:
    def __init__(self, dv, lr):
        self.dv, self.lr = dv, lr

    def predict(self, X):
        return self.lr.predict(self.dv.transform(X))


models["lin_reg"] = {"inputs": dv_inputs, "files": {}, "prediction": Tuple(dv, lr).predict(dv_test).tolist()}
with open(os.path.join(out, "lin_reg.bin"), "wb") as f:
    pickle.dump((dv, lr), f)
models["lin_reg"]["files"]["pickle-default"] = "lin_reg.bin"
for fmt, write in [
    ("pickle4", lambda f: pickle.dump((dv, lr), f, protocol=4)),
    ("pickle5", lambda f: pickle.dump((dv, lr), f, protocol=5)),
    ("pickle2", lambda f: pickle.dump((dv, lr), f, protocol=2)),
    ("cloudpickle", lambda f: cloudpickle.dump((dv, lr), f)),
]:
    path = os.path.join(out, f"lin_reg.{fmt}")
    with open(path, "wb") as f:
        write(f)
    models["lin_reg"]["files"][fmt] = os.path.basename(path)
for fmt, kwargs in [("joblib", {}), ("joblib-zlib", {"compress": 3})]:
    path = os.path.join(out, f"lin_reg.{fmt}")
    joblib.dump((dv, lr), path, **kwargs)
    models["lin_reg"]["files"][fmt] = os.path.basename(path)

ALL = ("pickle4", "pickle5", "joblib", "joblib-zlib", "cloudpickle")
add("ct_ridge", make_pipeline(rides_ct(), Ridge(alpha=0.5)).fit(ct_train, y[train]), ct_test, ct_inputs, formats=ALL)
add(
    "ct_drop_first_ridge",
    make_pipeline(rides_ct(drop="first"), Ridge(alpha=1.0)).fit(ct_train, y[train]),
    ct_test,
    ct_inputs,
)
add("dv_lasso", make_pipeline(DictVectorizer(), Lasso(alpha=0.001, max_iter=5000)).fit(dv_train, y[train]), dv_test, dv_inputs)
add("dv_elasticnet", make_pipeline(DictVectorizer(), ElasticNet(alpha=0.001, l1_ratio=0.3, max_iter=5000)).fit(dv_train, y[train]), dv_test, dv_inputs)
add("ct_sgd", make_pipeline(rides_ct(), SGDRegressor(random_state=1)).fit(ct_train, y[train]), ct_test, ct_inputs)
add(
    "ct_logistic_binary",
    make_pipeline(rides_ct(), LogisticRegression(max_iter=2000)).fit(ct_train, long_trip),
    ct_test,
    ct_inputs,
    classifier=True,
    formats=ALL,
)
add(
    "ct_logistic_binary_multinomial",
    make_pipeline(rides_ct(), LogisticRegression(multi_class="multinomial", max_iter=2000)).fit(ct_train, long_trip),
    ct_test,
    ct_inputs,
    classifier=True,
)
add(
    "dv_logistic_3",
    make_pipeline(DictVectorizer(), LogisticRegression(max_iter=3000)).fit(dv_train, three),
    dv_test,
    dv_inputs,
    classifier=True,
    formats=ALL,
)
add(
    "ct_logistic_3_ovr",
    make_pipeline(rides_ct(), LogisticRegression(multi_class="ovr", max_iter=2000)).fit(ct_train, three),
    ct_test,
    ct_inputs,
    classifier=True,
)
# A scaler over one-hot columns (forces them to be materialized) and a numeric-category
# OneHotEncoder, remainder passthrough.
num_train = Frame({"PULocationID": pu[train].astype(np.float64), "trip_distance": dist[train]})
num_test = Frame({"PULocationID": pu_test.astype(np.float64), "trip_distance": dist[test]})
add(
    "ct_numeric_scaled_ridge",
    Pipeline(
        [
            ("ct", ColumnTransformer([("pu", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["PULocationID"])], remainder="passthrough")),
            ("scale", StandardScaler()),
            ("ridge", Ridge(alpha=1.0)),
        ]
    ).fit(num_train, y[train]),
    num_test,
    {"PULocationID": pu_test.astype(np.float64).tolist(), "trip_distance": dist[test].tolist()},
)
# A bare estimator on a plain matrix: columns x0, x1, x2.
X_train = np.column_stack([pu[train], do[train], dist[train]]).astype(np.float64)
X_test = np.column_stack([pu_test, do_test, dist[test]]).astype(np.float64)
add(
    "bare_linear",
    LinearRegression().fit(X_train, y[train]),
    X_test,
    {"x0": X_test[:, 0].tolist(), "x1": X_test[:, 1].tolist(), "x2": X_test[:, 2].tolist()},
    formats=("pickle4", "pickle5", "joblib"),
)
# A bare estimator fitted on named columns: it reads them by feature_names_in_.
add(
    "bare_named_linear",
    LinearRegression().fit(Frame({"trip_distance": dist[train], "PULocationID": pu[train].astype(np.float64)}), y[train]),
    Frame({"trip_distance": dist[test], "PULocationID": pu_test.astype(np.float64)}),
    {"trip_distance": dist[test].tolist(), "PULocationID": pu_test.astype(np.float64).tolist()},
)
# The MLflow variant's shape, small: DictVectorizer then a forest (the trees helper's converter,
# reached through the dispatcher).
add(
    "dv_forest",
    make_pipeline(DictVectorizer(), RandomForestRegressor(n_estimators=10, max_depth=8, min_samples_leaf=10, random_state=1)).fit(dv_train, y[train]),
    dv_test,
    dv_inputs,
)
# XGBoost's sklearn wrapper after the sklearn stages (the xgboost helper's converter, reached
# through the dispatcher): a sparse DictVectorizer, and a sparse ColumnTransformer output.
from xgboost import XGBRegressor

add(
    "dv_xgboost",
    make_pipeline(DictVectorizer(), XGBRegressor(n_estimators=20, max_depth=4, random_state=1)).fit(dv_train, y[train]),
    dv_test,
    dv_inputs,
)
add(
    "ct_xgboost",
    make_pipeline(rides_ct(), XGBRegressor(n_estimators=20, max_depth=4, random_state=1)).fit(ct_train, y[train]),
    ct_test,
    ct_inputs,
)
# Not supported: an SVR at the end of a pipeline.
with open(os.path.join(out, "svr.pickle4"), "wb") as f:
    pickle.dump(make_pipeline(StandardScaler(), SVR()).fit(X_train[:500], y[:500]), f, protocol=4)

with open(os.path.join(out, "models.json"), "w") as f:
    json.dump(models, f)

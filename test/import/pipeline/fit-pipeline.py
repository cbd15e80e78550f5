# Fixtures of test/import/pipeline, written at test time by Debian's python3-sklearn,
# python3-xgboost, python3-joblib and python3-cloudpickle: the original service's pickled
# (DictVectorizer, LinearRegression) tuple, the MLflow variant's sklearn Pipeline in the
# directory layout mlflow.sklearn.save_model writes (MLflow 2.x: MLmodel keys as
# mlflow/sklearn/__init__.py and mlflow/pyfunc add them; no mlflow here, so the YAML is written
# as text), an XGBRegressor as a JSON model, a UBJSON model and an MLflow xgboost directory,
# hostile pickles, request rows and Python's own predictions for them.
import json, os, pickle, sys, zlib

import cloudpickle
import joblib
import numpy as np
import sklearn
import xgboost as xgb
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

out, rides_path = sys.argv[1], sys.argv[2]
with open(rides_path) as f:
    rides = json.load(f)
n = len(rides["duration"])
pu, do, dist, y = rides["PULocationID"], rides["DOLocationID"], rides["trip_distance"], rides["duration"]


def dicts(rows):
    # The original service's prepare_features: PU_DO from the two ids, as Python prints ints.
    return [{"PU_DO": "%s_%s" % (int(pu[i]), int(do[i])), "trip_distance": dist[i]} for i in rows]


train = range(0, n - 500)
test = list(range(n - 500, n))
dv = DictVectorizer()
X = dv.fit_transform(dicts(train))
lr = LinearRegression().fit(X, [y[i] for i in train])
with open(os.path.join(out, "lin_reg.bin"), "wb") as f:
    pickle.dump((dv, lr), f)
joblib.dump((dv, lr), os.path.join(out, "lin_reg.joblib"), compress=3)

# Request rows (the original /predict body) and Python's answers.
with open(os.path.join(out, "rows.jsonl"), "w") as f:
    for i in test:
        f.write(json.dumps({"PULocationID": int(pu[i]), "DOLocationID": int(do[i]), "trip_distance": dist[i]}) + "\n")
json.dump(lr.predict(dv.transform(dicts(test))).tolist(), open(os.path.join(out, "lin_reg.pred.json"), "w"))

# The MLflow variant: Pipeline(DictVectorizer, RandomForestRegressor), small for speed.
pipe = make_pipeline(DictVectorizer(), RandomForestRegressor(n_estimators=10, max_depth=20, min_samples_leaf=10, random_state=1))
pipe.fit(dicts(train), [y[i] for i in train])
mlflow_dir = os.path.join(out, "mlflow-sklearn")
os.makedirs(mlflow_dir)
with open(os.path.join(mlflow_dir, "model.pkl"), "wb") as f:
    cloudpickle.dump(pipe, f)
size = os.path.getsize(os.path.join(mlflow_dir, "model.pkl"))
PY = "3.11.4"
with open(os.path.join(mlflow_dir, "MLmodel"), "w") as f:
    f.write(f"""artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: {PY}
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: {sklearn.__version__}
mlflow_version: 2.9.2
model_size_bytes: {size}
model_uuid: 0f4c2b8a6d1e4f3a9b7c5d2e1f0a3b4c
run_id: 9d1b2c3e4f5a6b7c8d9e0f1a2b3c4d5e
utc_time_created: '2026-12-07 10:00:00.000000'
""")
with open(os.path.join(mlflow_dir, "conda.yaml"), "w") as f:
    f.write(f"channels:\n- conda-forge\ndependencies:\n- python={PY}\n- pip<=23.3.1\n- pip:\n  - mlflow==2.9.2\n  - cloudpickle=={cloudpickle.__version__}\n  - scikit-learn=={sklearn.__version__}\nname: mlflow-env\n")
with open(os.path.join(mlflow_dir, "python_env.yaml"), "w") as f:
    f.write(f"python: {PY}\nbuild_dependencies:\n- pip==23.3.1\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n")
with open(os.path.join(mlflow_dir, "requirements.txt"), "w") as f:
    f.write(f"mlflow==2.9.2\ncloudpickle=={cloudpickle.__version__}\nscikit-learn=={sklearn.__version__}\n")
json.dump(pipe.predict(dicts(test)).tolist(), open(os.path.join(out, "mlflow-sklearn.pred.json"), "w"))

# XGBoost on the three request columns.
Xn = np.array([[pu[i], do[i], dist[i]] for i in range(n)], dtype=np.float64)
names = ["PULocationID", "DOLocationID", "trip_distance"]
reg = xgb.XGBRegressor(n_estimators=20, max_depth=4, learning_rate=0.3)
reg.fit(Xn[: n - 500], np.array(y[: n - 500]))
booster = reg.get_booster()
booster.feature_names = names
booster.save_model(os.path.join(out, "xgb-model.json"))
booster.save_model(os.path.join(out, "xgb-model.ubj"))
pred = booster.predict(xgb.DMatrix(Xn[n - 500 :], feature_names=names))
json.dump([float(v) for v in pred], open(os.path.join(out, "xgb.pred.json"), "w"))
xgb_dir = os.path.join(out, "mlflow-xgboost")
os.makedirs(xgb_dir)
plain = xgb.XGBRegressor(n_estimators=20, max_depth=4, learning_rate=0.3)
plain.fit(Xn[: n - 500], np.array(y[: n - 500]))
plain.save_model(os.path.join(xgb_dir, "model.xgb"))
signature_in = json.dumps([{"type": "double", "name": c, "required": True} for c in names])
signature_out = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}])
with open(os.path.join(xgb_dir, "MLmodel"), "w") as f:
    f.write(f"""artifact_path: model
flavors:
  python_function:
    data: model.xgb
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: {PY}
  xgboost:
    code: null
    data: model.xgb
    model_class: xgboost.sklearn.XGBRegressor
    model_format: xgb
    xgb_version: {xgb.__version__}
mlflow_version: 2.9.2
model_uuid: 1a2b3c4d5e6f4a5b8c7d6e5f4a3b2c1d
signature:
  inputs: '{signature_in}'
  outputs: '{signature_out}'
  params: null
utc_time_created: '2026-12-07 10:00:00.000000'
""")
json.dump([float(v) for v in plain.predict(Xn[n - 500 :])], open(os.path.join(xgb_dir, "..", "mlflow-xgboost.pred.json"), "w"))


# Hostile pickles: unpickling runs os.system, which would create the marker file.
class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


marker = os.path.join(out, "PWNED")
with open(os.path.join(out, "hostile.pkl"), "wb") as f:
    pickle.dump(Evil(marker), f, protocol=4)
hostile_dir = os.path.join(out, "mlflow-hostile")
os.makedirs(hostile_dir)
with open(os.path.join(hostile_dir, "model.pkl"), "wb") as f:
    pickle.dump((dv, Evil(marker)), f, protocol=4)
with open(os.path.join(mlflow_dir, "MLmodel")) as src, open(os.path.join(hostile_dir, "MLmodel"), "w") as dst:
    dst.write(src.read())

# Not models.
with open(os.path.join(out, "notes.txt"), "w") as f:
    f.write("not a model\n")
skops = os.path.join(out, "mlflow-skops")
os.makedirs(skops)
with open(os.path.join(skops, "MLmodel"), "w") as f:
    f.write("flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n")

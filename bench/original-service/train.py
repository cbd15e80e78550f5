"""Trains the original system's two models on mldeploy's sample rides, as the course did.

usage: /usr/bin/python3 train.py <out_dir> <rides.json> [--forest-only | --linear-only]

rides.json holds columns PULocationID, DOLocationID, trip_distance, duration (minutes, rides of
1-60 minutes already kept), as mldeploy's sample-data generator makes them. Writes:
- <out_dir>/lin_reg.bin: the web-service variant's pickled (DictVectorizer, LinearRegression);
- <out_dir>/mlflow-model/: the MLflow variant's Pipeline(DictVectorizer,
  RandomForestRegressor(max_depth=20, n_estimators=100, min_samples_leaf=10, random_state=0)),
  in the directory layout mlflow.sklearn.save_model writes (MLmodel, model.pkl by cloudpickle,
  conda.yaml, python_env.yaml, requirements.txt); mlflow itself is not needed to write it.
"""
import json
import os
import pickle
import sys

import cloudpickle
import sklearn
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

out_dir, rides_file = sys.argv[1], sys.argv[2]
only = sys.argv[3] if len(sys.argv) > 3 else ""
rides = json.load(open(rides_file))


def prepare_dictionaries(rides):
    # The course's feature preparation: categorical ids as strings, PU_DO as "<PU>_<DO>".
    return [
        {"PU_DO": "%s_%s" % (int(pu), int(do)), "trip_distance": d}
        for pu, do, d in zip(rides["PULocationID"], rides["DOLocationID"], rides["trip_distance"])
    ]


dicts = prepare_dictionaries(rides)
target = rides["duration"]
os.makedirs(out_dir, exist_ok=True)

if only != "--forest-only":
    dv = DictVectorizer()
    X = dv.fit_transform(dicts)
    lr = LinearRegression()
    lr.fit(X, target)
    with open(os.path.join(out_dir, "lin_reg.bin"), "wb") as f_out:
        pickle.dump((dv, lr), f_out)

if only != "--linear-only":
    pipeline = make_pipeline(
        DictVectorizer(),
        RandomForestRegressor(max_depth=20, n_estimators=100, min_samples_leaf=10, random_state=0, n_jobs=-1),
    )
    pipeline.fit(dicts, target)
    model_dir = os.path.join(out_dir, "mlflow-model")
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "model.pkl"), "wb") as f_out:
        cloudpickle.dump(pipeline, f_out)
    python_version = "%d.%d.%d" % sys.version_info[:3]
    # The MLmodel file mlflow.sklearn.save_model writes (mlflow 2.x), with its flavors.
    with open(os.path.join(model_dir, "MLmodel"), "w") as f_out:
        f_out.write(
            "artifact_path: model\n"
            "flavors:\n"
            "  python_function:\n"
            "    env:\n"
            "      conda: conda.yaml\n"
            "      virtualenv: python_env.yaml\n"
            "    loader_module: mlflow.sklearn\n"
            "    model_path: model.pkl\n"
            "    predict_fn: predict\n"
            "    python_version: %s\n"
            "  sklearn:\n"
            "    code: null\n"
            "    pickled_model: model.pkl\n"
            "    serialization_format: cloudpickle\n"
            "    sklearn_version: %s\n"
            "mlflow_version: 2.9.2\n"
            "model_size_bytes: %d\n"
            "model_uuid: 0b1c2d3e4f5a46b7a8c9d0e1f2a3b4c5\n"
            "run_id: 6b2f1c9a4d3e4f5a8b7c6d5e4f3a2b1c\n"
            "utc_time_created: '2026-12-07 00:00:00.000000'\n"
            % (python_version, sklearn.__version__, os.path.getsize(os.path.join(model_dir, "model.pkl")))
        )
    with open(os.path.join(model_dir, "conda.yaml"), "w") as f_out:
        f_out.write(
            "channels:\n- conda-forge\ndependencies:\n- python=%s\n- pip<=23.0\n- pip:\n"
            "  - mlflow==2.9.2\n  - cloudpickle==%s\n  - scikit-learn==%s\nname: mlflow-env\n"
            % (python_version, cloudpickle.__version__, sklearn.__version__)
        )
    with open(os.path.join(model_dir, "python_env.yaml"), "w") as f_out:
        f_out.write(
            "python: %s\nbuild_dependencies:\n- pip==23.0\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n"
            % python_version
        )
    with open(os.path.join(model_dir, "requirements.txt"), "w") as f_out:
        f_out.write(
            "mlflow==2.9.2\ncloudpickle==%s\nscikit-learn==%s\n" % (cloudpickle.__version__, sklearn.__version__)
        )

"""The service mldeploy replaces, as the course wrote it: a Flask app answering
POST /predict {"PULocationID", "DOLocationID", "trip_distance"} with
{"duration": ..., "model_version": ...}, run under gunicorn in its Docker image.

Two variants, as the original system had them, chosen by what MODEL_FILE holds:
- the web-service variant pickled a (DictVectorizer, LinearRegression) tuple into lin_reg.bin;
- the MLflow variant loaded a Pipeline(DictVectorizer, RandomForestRegressor) with
  mlflow.pyfunc.load_model from S3. mlflow is not installed here, so the pipeline is read from
  the MLflow model directory's model.pkl the way mlflow.sklearn's loader reads it (pickle.load;
  cloudpickle files load with plain pickle), and predict() is the pipeline's own.

Used by mldeploy's benchmark (bench:serve) and by its end-to-end test, which compare the
answers and the speed of `mldeploy serve` with this app on the same pickle.
"""
import os
import pickle

from flask import Flask, jsonify, request

MODEL_FILE = os.environ["MODEL_FILE"]
RUN_ID = os.getenv("RUN_ID", "")

with open(MODEL_FILE, "rb") as f_in:
    loaded = pickle.load(f_in)

if isinstance(loaded, tuple):
    dv, model = loaded

    def predict(features):
        X = dv.transform(features)
        preds = model.predict(X)
        return float(preds[0])

else:
    pipeline = loaded

    def predict(features):
        preds = pipeline.predict(features)
        return float(preds[0])


def prepare_features(ride):
    features = {}
    features["PU_DO"] = "%s_%s" % (ride["PULocationID"], ride["DOLocationID"])
    features["trip_distance"] = ride["trip_distance"]
    return features


app = Flask("duration-prediction")


@app.route("/predict", methods=["POST"])
def predict_endpoint():
    ride = request.get_json()
    features = prepare_features(ride)
    pred = predict(features)
    result = {"duration": pred, "model_version": RUN_ID}
    return jsonify(result)


if __name__ == "__main__":
    app.run(debug=True, host="0.0.0.0", port=9696)

/**
 * The MLflow release whose scoring server mldeploy answers as (`GET /version`): the last 2.x
 * whose `mlflow models serve` ran the Flask app of mlflow/pyfunc/scoring_server/__init__.py
 * (2.20 moved it to FastAPI). MLflow's /version answers the server's own MLflow version, and
 * its ScoringServerClient.get_version() returns that text as it is.
 */
export const MLFLOW_VERSION = "2.19.0";

/**
 * The MLflow release whose scoring server mldeploy answers as (`GET /version`), the one its
 * bundles' MLmodel names too. MLflow's /version answers the server's own MLflow version, and its
 * ScoringServerClient.get_version() returns that text as it is.
 */
export { MLFLOW_VERSION } from "../../model/mlflow-files.js";

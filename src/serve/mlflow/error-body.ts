/**
 * MLflow's error codes for mldeploy's statuses. MLflow's scoring server answers its errors
 * with `MlflowException.serialize_as_json()` (`{"error_code", "message"}`) and the status
 * `mlflow/exceptions.py` maps the code to (ERROR_CODE_TO_HTTP_STATUS): malformed input is
 * BAD_REQUEST, input its schema enforcement refuses INVALID_PARAMETER_VALUE, both 400.
 * MLflow never answers 422: mldeploy's 422 (a value the model's inputs refuse) is its 400
 * INVALID_PARAMETER_VALUE (mlflowStatus). 413 and 503 are mldeploy's own limits (MLflow has
 * none) and keep their status; 405 is Werkzeug's, for a method the route does not take.
 */
const mlflowCodes: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHENTICATED",
  404: "ENDPOINT_NOT_FOUND",
  405: "BAD_REQUEST",
  413: "BAD_REQUEST",
  415: "BAD_REQUEST",
  422: "INVALID_PARAMETER_VALUE",
  500: "INTERNAL_ERROR",
  503: "TEMPORARILY_UNAVAILABLE",
};

/**
 * MLflow's error body: `{error_code, message}`, the code from mldeploy's status. Never a
 * `stack_trace` (MLflow adds one to some errors; mldeploy shows no stack traces).
 */
export function mlflowErrorBody(statusCode: number, message: string): Record<string, unknown> {
  return { error_code: mlflowCodes[statusCode] ?? "BAD_REQUEST", message };
}

/** The HTTP status MLflow gives the error mldeploy classifies as `statusCode`. */
export function mlflowStatus(statusCode: number): number {
  return statusCode === 422 ? 400 : statusCode;
}

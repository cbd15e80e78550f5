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

/** MLflow's scoring server's error body: `{error_code, message}`, the code from the status. */
export function mlflowErrorBody(statusCode: number, message: string): Record<string, unknown> {
  return { error_code: mlflowCodes[statusCode] ?? "BAD_REQUEST", message };
}

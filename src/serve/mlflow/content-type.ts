/**
 * The content types MLflow's scoring server reads on /invocations, checked as
 * `mlflow/pyfunc/scoring_server/__init__.py` (`invocations()`, MLflow 2.x) checks them: the
 * header split on ";", each part stripped and cut at its first "="; a charset other than
 * utf-8 (any case) is refused first, then any parameter other than `charset` (MLflow 1.x's
 * `format=pandas-split` among them), then a media type other than exactly `text/csv` or
 * `application/json` (compared as written, as MLflow compares it). Each is a 415 whose body
 * is plain text, as MLflow answers it.
 */
export const MLFLOW_CONTENT_TYPES = ["text/csv", "application/json"] as const;

/** Why MLflow would refuse this Content-Type (the 415's text), or undefined when it reads it. */
export function mlflowContentTypeProblem(header: string | undefined): string | undefined {
  // MLflow fails on a request without the header (a 500 from `None.split`); a 415 says why.
  if (header === undefined) {
    return `This predictor only supports the following content types: ${MLFLOW_CONTENT_TYPES.join(", ")}. The request has no Content-Type.`;
  }
  const [mediaType, ...pairs] = header.split(";").map((part) => part.trim());
  const parameters = new Map<string, string>();
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    parameters.set(
      equals < 0 ? pair : pair.slice(0, equals),
      equals < 0 ? "" : pair.slice(equals + 1),
    );
  }
  if ((parameters.get("charset") ?? "utf-8").toLowerCase() !== "utf-8") {
    return "The scoring server only supports UTF-8";
  }
  const unexpected = [...parameters.keys()].filter((key) => key !== "charset");
  if (unexpected.length > 0) {
    return `Unrecognized content type parameters: ${unexpected.join(", ")}. MLflow 2.x's scoring protocol takes no "format" parameter: send the input as a field of the JSON body (dataframe_split, dataframe_records, instances or inputs).`;
  }
  if (!(MLFLOW_CONTENT_TYPES as readonly string[]).includes(mediaType)) {
    return `This predictor only supports the following content types: ${MLFLOW_CONTENT_TYPES.join(", ")}. Got '${header}'.`;
  }
  return undefined;
}

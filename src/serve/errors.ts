import { InputValidationError, type FieldError } from "../model/types.js";
import { mlflowErrorBody, mlflowStatus } from "./mlflow/error-body.js";
import { originalErrorBody } from "./original/error-body.js";
import { v2ErrorBody } from "./v2/error-body.js";

/**
 * Status codes for client errors, the same in every protocol:
 * - 400: the body is not a request of the protocol (not JSON/CSV, wrong envelope or tensor
 *        shape, a tensor value its datatype cannot hold, a row that is not an object, no rows
 *        at all), or not what its Content-Encoding says;
 * - 413: body larger than bodyLimitBytes (decoded, for a compressed body), or more rows than
 *        maxRows;
 * - 415: a content type or Content-Encoding the endpoint does not read;
 * - 422: a well-formed request whose values break the model's input schema (missing field,
 *        wrong type, non-integer for a long, non-finite number, outside minimum/maximum);
 * - 404: unknown route or model name;
 * - 503: retry later (e.g. the model was swapped for one with other inputs during the request).
 */
export type ClientStatus = 400 | 404 | 405 | 413 | 415 | 422 | 503;

export class RequestError extends Error {
  constructor(
    readonly statusCode: ClientStatus,
    message: string,
    readonly field?: string,
    readonly row?: number,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

export const badRequest = (message: string, field?: string, row?: number) =>
  new RequestError(400, message, field, row);

export const tooLarge = () =>
  new RequestError(413, "request body is larger than the limit (bodyLimitBytes)");

export function tooManyRows(rows: number, maxRows: number): RequestError {
  return new RequestError(
    413,
    `request has ${rows} rows; at most ${maxRows} are accepted per request (maxRows)`,
  );
}

/**
 * Turns field errors into a 422 naming the first field (and its row when the request held
 * several rows); the message counts the others so one round trip shows the extent.
 */
export function invalidInput(
  errors: FieldError[],
  invalidRows: number,
  multiRow: boolean,
): RequestError {
  const first = errors[0];
  if (!first) return new RequestError(422, "invalid input");
  const where = first.field ? `field "${first.field}"` : "row";
  const rowText = multiRow ? ` (row ${first.row})` : "";
  const more =
    invalidRows > 1
      ? `; ${invalidRows} rows are invalid`
      : errors.length > 1
        ? `; ${errors.length - 1} more problems`
        : "";
  return new RequestError(
    422,
    `${where}${rowText} ${first.message}${more}`,
    first.field || undefined,
    multiRow ? first.row : undefined,
  );
}

export function fromValidationError(error: InputValidationError, multiRow: boolean): RequestError {
  return invalidInput(error.errors, new Set(error.errors.map((e) => e.row)).size, multiRow);
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message: string;
}

/** Maps errors raised before a handler runs (Fastify's body parsing) to the statuses above. */
export function classifyError(error: unknown): RequestError | undefined {
  if (error instanceof RequestError) return error;
  if (error instanceof InputValidationError)
    return fromValidationError(
      error,
      error.errors.some((e) => e.row > 0),
    );
  if (typeof error !== "object" || error === null) return undefined;
  const { code, statusCode, message } = error as FastifyLikeError;
  switch (code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return tooLarge();
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new RequestError(
        415,
        `${message.replace(/^Unsupported Media Type/, "unsupported content type")}; send application/json (or text/csv to /invocations)`,
      );
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
    case "FST_ERR_CTP_EMPTY_TYPE":
    case "FST_ERR_CTP_INVALID_TYPE":
      return new RequestError(400, message);
  }
  if (error instanceof SyntaxError)
    return new RequestError(400, `body is not valid JSON: ${error.message}`);
  if (typeof statusCode === "number" && statusCode >= 400 && statusCode < 500) {
    const status = ([400, 404, 405, 413, 415, 422] as const).find((s) => s === statusCode) ?? 400;
    return new RequestError(status, message);
  }
  return undefined;
}

export type Protocol = "predict" | "mlflow" | "v2";

/**
 * The status each protocol answers a client error with: the one above, except where the
 * protocol's own server answers another (MLflow's scoring server answers 400 where mldeploy
 * says 422).
 */
export function protocolStatus(protocol: Protocol, statusCode: number): number {
  return protocol === "mlflow" ? mlflowStatus(statusCode) : statusCode;
}

/**
 * The error body each protocol's clients expect (each protocol's folder writes its own):
 * /predict `{error, field?, row?}`; MLflow's scoring server `{error_code, message}`; the Open
 * Inference Protocol `{error}` only.
 */
export function errorBody(
  protocol: Protocol,
  statusCode: number,
  message: string,
  field?: string,
  row?: number,
): Record<string, unknown> {
  switch (protocol) {
    case "mlflow":
      return mlflowErrorBody(statusCode, message);
    case "v2":
      return v2ErrorBody(statusCode, message);
    case "predict":
      return originalErrorBody(statusCode, message, field, row);
  }
}

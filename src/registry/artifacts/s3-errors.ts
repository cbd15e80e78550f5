/**
 * Turns S3 SDK failures into errors a user can act on (one line naming the bucket, key and
 * endpoint) instead of an SDK stack. Anything unrecognized that is not from S3 is returned
 * unchanged: that is a bug and should show its stack.
 */
import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { errnoCode } from "./local-files.js";

export interface S3FailureContext {
  /** What we were doing, e.g. "uploading to". */
  action: string;
  /** `s3://bucket/key` concerned. */
  uri: string;
  bucket: string;
  /** describeEndpoint() text. */
  endpoint: string;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);
const DENIED = new Set([
  "AccessDenied",
  "Forbidden",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "AllAccessDisabled",
]);

export function s3Failure(error: unknown, context: S3FailureContext): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (error instanceof UserError) return error;
  const { action, uri, bucket, endpoint } = context;
  const status = httpStatus(error);
  const options = { cause: error };
  // Answers without a body (every HEAD error) have no S3 error code: the SDK says "Unknown".
  const known = error.name !== "" && !error.name.startsWith("Unknown");
  const what = known ? error.name : `HTTP ${status}`;
  if (error.name === "NoSuchBucket") {
    return new RegistryError(
      "NOT_FOUND",
      `S3 bucket "${bucket}" does not exist at ${endpoint}`,
      options,
    );
  }
  if (error.name === "NoSuchKey" || error.name === "NotFound" || status === 404) {
    return new RegistryError("NOT_FOUND", `${uri} not found at ${endpoint}`, options);
  }
  if (DENIED.has(error.name) || status === 403) {
    return new RegistryError(
      "UNAUTHORIZED",
      `access denied ${action} ${uri} at ${endpoint} (${what}); check the AWS credentials`,
      options,
    );
  }
  if (error.name === "CredentialsProviderError") {
    return new UserError(
      `no AWS credentials for ${uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE`,
      options,
    );
  }
  const code = errnoCode(error);
  if ((code !== undefined && NETWORK_CODES.has(code)) || error.name === "TimeoutError") {
    return new UserError(
      `cannot reach the S3 endpoint ${endpoint} ${action} ${uri}: ${code ?? error.name} ` +
        "(check MLDEPLOY_S3_ENDPOINT / AWS_ENDPOINT_URL and that the server is up)",
      options,
    );
  }
  if (status !== undefined) {
    // Any other answer from the server (wrong region, server error …): still not our bug.
    return new UserError(
      `S3 error ${action} ${uri} at ${endpoint}: ${known ? `${what} (HTTP ${status})` : what}: ` +
        error.message,
      options,
    );
  }
  return error;
}

function httpStatus(error: Error): number | undefined {
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  return typeof metadata?.httpStatusCode === "number" ? metadata.httpStatusCode : undefined;
}

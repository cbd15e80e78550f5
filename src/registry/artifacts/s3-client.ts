/**
 * S3 client settings: where the endpoint and region come from, and the client options that
 * make third-party S3 servers (MinIO, s3rver, Ceph …) work. Credentials are left to the
 * SDK's standard chain (env AWS_ACCESS_KEY_ID…, profiles, SSO, instance roles).
 */
import { S3Client } from "@aws-sdk/client-s3";

import { UserError } from "../../config/errors.js";
import { isHttpUrl } from "../../config/http-url.js";

export interface S3Options {
  /**
   * Endpoint of an S3-compatible server. Default: MLDEPLOY_S3_ENDPOINT, else
   * AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS itself.
   */
  endpoint?: string;
  /** Default: AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1". */
  region?: string;
  /**
   * Path-style URLs (`http://host/bucket/key`). Default: on with a custom endpoint (MinIO-style
   * servers have no per-bucket DNS names), off for AWS, which prefers virtual-hosted URLs.
   */
  forcePathStyle?: boolean;
  /** Attempts per request, the first included. Default: the SDK's (3, or AWS_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Give up connecting after this long. Default 10 000. */
  connectionTimeoutMs?: number;
}

export interface S3Settings {
  endpoint: string | undefined;
  /** Where the endpoint came from, for error messages ("MLDEPLOY_S3_ENDPOINT", "option"). */
  endpointSource: string | undefined;
  region: string;
  forcePathStyle: boolean;
  maxAttempts: number | undefined;
  connectionTimeoutMs: number;
}

const ENDPOINT_VARIABLES = ["MLDEPLOY_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];

export function resolveS3Settings(options: S3Options = {}, env = process.env): S3Settings {
  const nonEmpty = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);
  let endpoint = nonEmpty(options.endpoint);
  let endpointSource = endpoint === undefined ? undefined : "option";
  for (const name of ENDPOINT_VARIABLES) {
    if (endpoint !== undefined) break;
    endpoint = nonEmpty(env[name]);
    if (endpoint !== undefined) endpointSource = name;
  }
  if (endpoint !== undefined) checkEndpoint(endpoint, endpointSource ?? "option");
  return {
    endpoint,
    endpointSource,
    region:
      nonEmpty(options.region) ??
      nonEmpty(env.AWS_REGION) ??
      nonEmpty(env.AWS_DEFAULT_REGION) ??
      "us-east-1",
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    maxAttempts: options.maxAttempts,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000,
  };
}

function checkEndpoint(endpoint: string, source: string): void {
  if (!isHttpUrl(endpoint)) {
    throw new UserError(
      `S3 endpoint ${JSON.stringify(endpoint)} (from ${source}) is not an http(s) URL, ` +
        "e.g. http://localhost:9000",
    );
  }
}

/** "http://localhost:9000 (from MLDEPLOY_S3_ENDPOINT)" or "AWS S3 (us-east-1)". */
export function describeEndpoint(settings: S3Settings): string {
  if (settings.endpoint === undefined) return `AWS S3 (${settings.region})`;
  return `${settings.endpoint} (from ${settings.endpointSource})`;
}

export function createS3Client(settings: S3Settings): S3Client {
  // mldeploy supports Node 20 and pins the SDK in its lockfile; the SDK's multi-line notice
  // about its future releases would otherwise print in every serve worker. A user's own
  // setting wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: settings.maxAttempts,
    requestHandler: { connectionTimeout: settings.connectionTimeoutMs },
    // Since 3.729 the SDK defaults to "WHEN_SUPPORTED": a streamed PutObject is sent as
    // aws-chunked with a trailing CRC32. Servers that do not speak that encoding store the
    // framing as the content (s3rver 3.7 does: "c\r\nhello…\r\n0\r\nx-amz-checksum-crc32:…").
    // Every file is checked against our own SHA-256 manifest end to end, so the SDK's
    // checksums add nothing here; send and check them only where S3 requires them.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

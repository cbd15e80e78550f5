/**
 * The Kinesis client and where its endpoint and region come from.
 *
 * Endpoint: `?endpoint=` on the URL, else AWS_ENDPOINT_URL_KINESIS, else AWS_ENDPOINT_URL
 * (both skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else AWS. That is the SDK's
 * own order (@smithy/core getEndpointUrlConfig: `AWS_ENDPOINT_URL_` + the service id
 * "Kinesis" upper-cased, then AWS_ENDPOINT_URL; then `endpoint_url` of the shared config
 * profile); we resolve the two variables ourselves only to name the endpoint in logs and
 * errors, and leave the profile file to the SDK.
 *
 * Region: `?region=`, else AWS_REGION, else AWS_DEFAULT_REGION (which the SDK itself does
 * not read), else "us-east-1" when a custom endpoint is set (local servers ignore it), else
 * the SDK's chain (the profile's `region`). Credentials: the SDK's standard chain.
 */
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { UserError } from "../../config/errors.js";
import type { KinesisTarget } from "./url.js";
import { isHttpUrl } from "../../config/http-url.js";

export interface KinesisConnection {
  client: KinesisClient;
  /** e.g. "http://127.0.0.1:4567 (from AWS_ENDPOINT_URL_KINESIS)" or "AWS (eu-west-1)". */
  where: string;
  /** The custom endpoint, if any (part of the checkpoint key: local servers share ARNs). */
  endpoint?: string;
}

const ENDPOINT_VARIABLES = ["AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"];

export function connectKinesis(
  target: KinesisTarget,
  env: NodeJS.ProcessEnv = process.env,
): KinesisConnection {
  const nonEmpty = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);
  let endpoint = target.endpoint;
  let from = "URL";
  if (endpoint === undefined && env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS !== "true") {
    for (const name of ENDPOINT_VARIABLES) {
      endpoint = nonEmpty(env[name]);
      if (endpoint !== undefined) {
        from = name;
        checkEndpoint(endpoint, name);
        break;
      }
    }
  }
  const region =
    target.region ??
    nonEmpty(env.AWS_REGION) ??
    nonEmpty(env.AWS_DEFAULT_REGION) ??
    (endpoint === undefined ? undefined : "us-east-1");
  // Node 20 is supported and the SDK pinned; its multi-line notice about future releases
  // would otherwise print in every process. A user's own setting wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const client = new KinesisClient({
    region,
    endpoint,
    // The Kinesis client defaults to HTTP/2 (for SubscribeToShard, which we do not use: we
    // poll with GetRecords). HTTP/1.1 works with AWS and with local Kinesis-API servers
    // (kinesalite, LocalStack), which speak no cleartext HTTP/2.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  });
  return {
    client,
    where:
      endpoint === undefined
        ? `AWS (${region ?? "region from the AWS profile"})`
        : `${endpoint} (from ${from})`,
    endpoint,
  };
}

function checkEndpoint(endpoint: string, source: string): void {
  if (!isHttpUrl(endpoint)) {
    throw new UserError(
      `Kinesis endpoint ${JSON.stringify(endpoint)} (from ${source}) is not an http(s) URL, ` +
        "e.g. http://127.0.0.1:4567",
    );
  }
}

/** The AWS error code (`name`) of an SDK error, or "" for anything else. */
export function awsErrorName(err: unknown): string {
  return err instanceof Error ? err.name : "";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Errors that mean "wrong settings": retrying cannot help, the user must act. */
const USER_ERRORS = new Set([
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "AccessDeniedException",
  "ExpiredTokenException",
  "MissingAuthenticationTokenException",
  "CredentialsProviderError",
]);

/**
 * Rethrows setting problems as UserErrors (one line, exit 2) naming what to fix; other
 * errors get the endpoint added, since "connect ECONNREFUSED" alone does not say to what.
 */
export function explain(err: unknown, what: string, where: string): Error {
  const name = awsErrorName(err);
  const message = errorMessage(err);
  if (USER_ERRORS.has(name)) {
    return new UserError(
      `${what}: Kinesis at ${where} refused the AWS credentials (${name}: ${message}); ` +
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
      { cause: err },
    );
  }
  if (/region is missing/i.test(message)) {
    return new UserError(
      `${what}: no AWS region: set AWS_REGION or add ?region=… to the kinesis:// URL`,
      { cause: err },
    );
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    // Nothing listening at that address, or no such host: most likely a wrong endpoint.
    return new UserError(
      `${what}: cannot reach Kinesis at ${where} (${String(code)}): check the endpoint ` +
        "(?endpoint= on the URL, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL) and the network",
      { cause: err },
    );
  }
  if (err instanceof UserError) return err;
  return new Error(`${what} (Kinesis at ${where}): ${message}`, { cause: err });
}

/**
 * The Kinesis stream URL form:
 *
 *   kinesis://<stream name>[?endpoint=…&region=…&create=true&shards=N&checkpoints=…
 *                          &lease_ms=…&poll_ms=…]
 *
 * e.g. `kinesis://ride_events` (AWS, region and credentials from the usual AWS environment)
 * or `kinesis://ride_events?endpoint=http://127.0.0.1:4567&create=true&shards=4` (a local
 * Kinesis-API server). The "host" part is the stream name, case kept as written.
 *
 * - endpoint: the Kinesis API endpoint; unset = AWS_ENDPOINT_URL_KINESIS, else
 *   AWS_ENDPOINT_URL, else AWS (see client.ts).
 * - region: unset = AWS_REGION, else AWS_DEFAULT_REGION, else the AWS profile (see client.ts).
 * - create=true: create the stream (with `shards` shards, default 1) when it does not exist.
 * - checkpoints: where a source keeps its per-shard checkpoints and leases:
 *   `sqlite:<file>` or `postgres://…[?schema=name]` (default: SQLite in the data dir). A
 *   nested URL that itself holds `&` must be percent-encoded.
 * - lease_ms: how long a shard lease lasts without renewal, i.e. how soon the shards of a
 *   consumer that died are taken over (default 10 000).
 * - poll_ms: the least time between two GetRecords calls on one shard (default 250: AWS
 *   allows 5 per second per shard, shared by every reader of the stream).
 */
import { UserError } from "../../config/errors.js";
import { isHttpUrl } from "../../config/http-url.js";

export interface KinesisTarget {
  stream: string;
  /** Explicit `?endpoint=`; the environment is consulted later (client.ts). */
  endpoint?: string;
  /** Explicit `?region=`. */
  region?: string;
  create: boolean;
  /** Shard count for `create`. */
  shards: number;
  /** Checkpoint store URL (`sqlite:…`, `postgres://…`); undefined = the default file. */
  checkpoints?: string;
  leaseMs?: number;
  pollMs?: number;
  /** `kinesis://<stream>` plus the endpoint when one was given: for logs (no secrets). */
  description: string;
}

/** Kinesis stream names: 1–128 of these characters (AWS API reference, StreamName). */
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const MAX_SHARDS = 10_000;
const KNOWN = ["endpoint", "region", "create", "shards", "checkpoints", "lease_ms", "poll_ms"];
const FORM = "kinesis://<stream name>[?endpoint=http://host:port&region=…]";

export function parseKinesisUrl(url: string): KinesisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`not a Kinesis stream URL: expected ${FORM}`);
  }
  if (parsed.protocol !== "kinesis:") {
    throw new UserError(`not a Kinesis stream URL (${parsed.protocol}): expected ${FORM}`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new UserError(
      "Kinesis stream URL with credentials: leave them to the AWS environment " +
        "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role)",
    );
  }
  const path = parsed.pathname.replace(/^\/+/, "");
  if (path !== "" || parsed.port !== "") {
    throw new UserError(
      `Kinesis stream URL "${parsed.host}${parsed.pathname}": the stream name is the only ` +
        `part before "?", e.g. kinesis://ride_events`,
    );
  }
  const stream = decodeURIComponent(parsed.hostname);
  if (stream === "") throw new UserError(`Kinesis stream URL without a stream name: ${FORM}`);
  if (!STREAM_NAME.test(stream)) {
    throw new UserError(
      `invalid Kinesis stream name "${stream}": 1-128 letters, digits, "_", "-" and "."`,
    );
  }

  const target: KinesisTarget = { stream, create: false, shards: 1, description: "" };
  for (const [key, value] of parsed.searchParams) {
    switch (key) {
      case "endpoint":
        target.endpoint = httpUrl(value);
        break;
      case "region":
        if (!/^[a-z0-9-]+$/.test(value)) {
          throw new UserError(
            `Kinesis URL setting region must look like us-east-1, got "${value}"`,
          );
        }
        target.region = value;
        break;
      case "create":
        target.create = bool(key, value);
        break;
      case "shards":
        target.shards = positiveInt(key, value, MAX_SHARDS);
        break;
      case "checkpoints":
        target.checkpoints = checkpointUrl(value);
        break;
      case "lease_ms":
        target.leaseMs = positiveInt(key, value, 3_600_000, 300);
        break;
      case "poll_ms":
        target.pollMs = positiveInt(key, value, 60_000);
        break;
      default:
        throw new UserError(`unknown Kinesis URL setting "${key}" (known: ${KNOWN.join(", ")})`);
    }
  }
  target.description =
    `kinesis://${stream}` + (target.endpoint === undefined ? "" : ` at ${target.endpoint}`);
  return target;
}

function httpUrl(value: string): string {
  if (!isHttpUrl(value)) {
    throw new UserError(
      `Kinesis URL setting endpoint must be an http(s) URL such as http://127.0.0.1:4567, got "${value}"`,
    );
  }
  return value.replace(/\/+$/, "");
}

function bool(key: string, value: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new UserError(`Kinesis URL setting ${key} must be true or false, got "${value}"`);
}

function positiveInt(key: string, value: string, max: number, min = 1): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UserError(
      `Kinesis URL setting ${key} must be an integer from ${min} to ${max}, got "${value}"`,
    );
  }
  return n;
}

function checkpointUrl(value: string): string {
  if (/^sqlite:.+/.test(value) || /^postgres(ql)?:\/\/./.test(value)) return value;
  throw new UserError(
    `Kinesis URL setting checkpoints must be sqlite:<file> or postgres://user@host/db, got "${redact(value)}"`,
  );
}

/** Drops the user-info part of a URL, so errors leak no password. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

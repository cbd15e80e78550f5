import os from "node:os";
import { z } from "zod";
import { importSettingsShape } from "../import/options.js";
import { predictionLogSettingsShape } from "../monitor/prediction-log/options.js";
import { heartbeatIntervalSetting } from "../registry/deployments/options.js";
import {
  intSetting,
  logLevelSetting,
  logFormatSetting,
  parseSettings,
} from "../config/settings.js";

/** One of --models: where it is, and optionally the name it is served under. */
export interface ExtraModel {
  uri: string;
  name?: string;
}

/** `fast=models:/ride-duration@staging`: a served name, then the URI. */
const SERVED_AS = /^([A-Za-z0-9][\w.-]*)=(.*)$/;

/**
 * Options of `mldeploy serve`. The CLI merges flags > MLDEPLOY_* env > config file and
 * validates the result with this schema; field names are what the config file uses.
 */
export const serveOptionsSchema = z
  .object({
    model: z
      .string()
      .min(1)
      .describe(
        "Model to serve: bundle directory, file:// URI, or a registry URI (models:/name@alias, runs:/…) resolved by the caller",
      ),
    ...importSettingsShape,
    modelName: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Name the model is served under (/v2/models/{name}, /version); defaults to the registry name or bundle directory name",
      ),
    models: z
      .union([
        z.string(),
        z.array(
          z.union([
            z.string(),
            z.object({ uri: z.string().min(1), name: z.string().min(1).optional() }).strict(),
          ]),
        ),
      ])
      .default([])
      .transform((value, ctx) => {
        const entries = (Array.isArray(value) ? value : value.split(","))
          .map((entry) => (typeof entry === "string" ? entry.trim() : entry))
          .filter((entry) => entry !== "");
        return entries.map((entry) => {
          if (typeof entry !== "string") return entry;
          const named = SERVED_AS.exec(entry);
          const parsed: ExtraModel = named ? { name: named[1], uri: named[2] } : { uri: entry };
          if (parsed.uri === "") {
            ctx.addIssue({ code: "custom", message: `"${entry}" names no model URI` });
          }
          return parsed;
        });
      })
      .describe(
        "More models served next to --model, comma-separated: URI or name=URI (a bundle directory or registry URI). Each answers on /v2/models/<name>/…; --model also on /predict and /invocations",
      ),
    modelVersion: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Version label returned as model_version; defaults to the bundle's run id or model uuid",
      ),
    authToken: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Require Authorization: Bearer <token> on every route but the health checks and /metrics; unset = no auth",
      ),
    host: z
      .string()
      .min(1)
      .default("127.0.0.1")
      .describe(
        "Interface to listen on: 127.0.0.1 = this machine only (the default, as for a tool run on a laptop); 0.0.0.0 = all IPv4 interfaces (the container image and Kubernetes manifests set it)",
      ),
    port: intSetting(0, 65535)
      .default(9696)
      .describe("TCP port (0 = pick a free one); 9696 is the original service's port"),
    grpcPort: intSetting(0, 65535)
      .default(0)
      .describe(
        "TCP port of the KServe V2 / Open Inference Protocol gRPC service (inference.GRPCInferenceService) on --host; 0 = no gRPC (the default). Shares the models, token, limits and workers of HTTP",
      ),
    workers: intSetting(1, 256)
      .default(() => os.availableParallelism())
      .describe(
        "Processes serving requests on the shared port (node:cluster); 1 runs in-process. Default: one per core",
      ),
    maxBatchSize: intSetting(1, 1_000_000)
      .default(64)
      .describe(
        "Most rows the micro-batcher puts in one onnxruntime call; requests at least this large run alone",
      ),
    // Set from `npm run bench:serve` (2 cores, 32 connections, single-ride /predict): batching
    // the requests parsed in one event-loop turn (0.5) served 2.7x the requests/s of 0 (off)
    // at a lower p99; 1-2 ms timers did not do better in the medians. README has the figures.
    maxBatchDelayMs: z.coerce
      .number()
      .min(0)
      .max(1000)
      .default(0.5)
      .describe(
        "Micro-batching window: how long a queued call waits for others to share one onnxruntime call. 0 = off (each request runs alone); values below 1 collect the calls that arrive in the same event-loop turn without a timer",
      ),
    maxRows: intSetting(1, 10_000_000)
      .default(100_000)
      .describe("Most rows accepted in one request (more is answered 413)"),
    bodyLimitBytes: intSetting(1024, 1024 * 1024 * 1024)
      .default(16 * 1024 * 1024)
      .describe("Largest request body in bytes (more is answered 413)"),
    keepAliveTimeoutMs: intSetting(0, 3_600_000)
      .default(72_000)
      .describe(
        "Idle keep-alive timeout; above the 60 s idle timeout of common load balancers so they close first",
      ),
    headersTimeoutMs: intSetting(1, 3_600_000)
      .default(10_000)
      .describe(
        "A connection must send a request's complete headers within this time (from connecting, or from the end of the previous request on a keep-alive connection), or it is answered 408 and closed; capped at requestTimeoutMs",
      ),
    requestTimeoutMs: intSetting(0, 3_600_000)
      .default(30_000)
      .describe(
        "A request's headers and whole body must arrive within this time, or it is answered 408 and its connection closed (a body sent a byte at a time, a chunked body that never ends); 0 = no limit",
      ),
    maxConcurrentRequests: intSetting(0, 1_000_000)
      .default(128)
      .describe(
        "Most POST requests (predictions) one process handles at once; beyond it they are answered 503 with Retry-After at once instead of queueing (GET health checks and /metrics are not counted). 0 = no limit",
      ),
    shutdownTimeoutMs: intSetting(0, 3_600_000)
      .default(10_000)
      .describe(
        "On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut",
      ),
    pollIntervalMs: intSetting(0, 86_400_000)
      .default(10_000)
      .describe(
        "For a registry alias (models:/name@alias): how often to check whether it moved, and switch without dropping requests; 0 = never",
      ),
    heartbeatIntervalMs: heartbeatIntervalSetting(),
    maxWorkerRestarts: intSetting(0, 10_000)
      .default(5)
      .describe(
        "Crashed workers restarted at once per minute; beyond, the next restarts wait (1 s, doubling up to 30 s) while the other workers serve. The primary exits 1 only when no worker is left serving",
      ),
    onnxThreads: intSetting(1, 256)
      .default(1)
      .describe(
        "onnxruntime intra-op threads per process; 1 because every core already runs a worker",
      ),
    metrics: z
      .union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")])
      .default(true)
      .describe("Expose Prometheus metrics on GET /metrics"),
    ...predictionLogSettingsShape,
    logIdField: z
      .string()
      .min(1)
      .default("ride_id")
      .describe(
        "The request field whose value names each row in the prediction log (the key actuals are joined on later); rows without it get the request's id",
      ),
    logLevel: logLevelSetting("Log level (request lines are logged at debug)"),
    logFormat: logFormatSetting(),
  })
  .strict();

/** Validated options with defaults applied. */
export type ServeOptions = z.output<typeof serveOptionsSchema>;
/** What a caller may pass before defaults (e.g. `{ model: "./model" }`). */
export type ServeOptionsInput = z.input<typeof serveOptionsSchema>;

/** Validates and fills defaults; throws an Error listing every bad field by name. */
export function parseServeOptions(
  input: ServeOptionsInput | Record<string, unknown>,
): ServeOptions {
  const options = parseSettings(serveOptionsSchema, input, "serve options");
  if (options.grpcPort !== 0 && options.grpcPort === options.port)
    throw new Error(
      `invalid serve options: grpcPort: ${options.grpcPort} is also port; gRPC needs a port of its own`,
    );
  return options;
}

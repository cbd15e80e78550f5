import { z } from "zod";
import {
  RUN_STATUSES,
  type Experiment,
  type ExperimentKeys,
  type ExperimentSummary,
  type MetricPoint,
  type ModelVersion,
  type RegisteredModel,
  type Run,
  type SearchRunsResult,
} from "../store/types.js";
import { INTERNAL_ERROR_CODE, REGISTRY_ERROR_CODES } from "../wire.js";

/**
 * The API's request and response shapes. Routes validate with them and the OpenAPI document
 * is generated from them, so the document cannot describe a shape the server does not check.
 *
 * They check JSON types only. Names, lengths, limits and state are the store's to judge: it
 * applies the same rules whatever the transport, so an HTTP client gets the very message a
 * local caller would.
 */

/** Named schemas: each becomes `#/components/schemas/<id>` in the OpenAPI document. */
export const apiSchemas = z.registry<{ id: string }>();

function named<T extends z.ZodType>(id: string, schema: T): T {
  apiSchemas.add(schema, { id });
  return schema;
}

const ms = (what: string) => z.number().describe(`${what}, milliseconds since the epoch`);
const id = (what: string) => z.string().describe(`${what} id: 32 lowercase hex characters`);
const stringMap = (what: string) => z.record(z.string(), z.string()).describe(what);

// ── entities (responses) ──────────────────────────────────────────────────────────────────
// Annotated with the store's types: a field added to types.ts without one here fails to compile;
// strict, so that a field the store returns but the document lacks fails the OpenAPI test.

export const runStatusSchema = named("RunStatus", z.enum(RUN_STATUSES));

export const experimentSchema: z.ZodType<Experiment> = named(
  "Experiment",
  z.strictObject({
    id: id("experiment"),
    name: z.string(),
    artifactLocation: z
      .string()
      .describe("Where runs put artifacts: <artifactLocation>/<runId>/artifacts"),
    createdAt: ms("creation time"),
    tags: stringMap("tag key → value"),
  }),
);

export const runSchema: z.ZodType<Run> = named(
  "Run",
  z.strictObject({
    id: id("run"),
    experimentId: id("experiment"),
    name: z.string(),
    status: runStatusSchema,
    startTime: ms("start time"),
    endTime: ms("end time").nullable(),
    artifactUri: z.string().describe("Root URI of the run's artifacts"),
    params: stringMap("param key → value"),
    tags: stringMap("tag key → value"),
    latestMetrics: z
      .record(z.string(), z.number())
      .describe("Last logged value of each metric (highest step, then latest timestamp)"),
  }),
);

export const metricPointSchema: z.ZodType<MetricPoint> = named(
  "MetricPoint",
  z.strictObject({
    key: z.string(),
    value: z.number(),
    step: z.number(),
    timestamp: ms("when logged"),
  }),
);

export const registeredModelSchema: z.ZodType<RegisteredModel> = named(
  "RegisteredModel",
  z.strictObject({
    name: z.string(),
    description: z.string(),
    createdAt: ms("creation time"),
    updatedAt: ms("last change"),
    latestVersion: z.number().nullable().describe("Highest version, null before the first"),
    aliases: z.record(z.string(), z.number()).describe("alias → version"),
  }),
);

export const modelVersionSchema: z.ZodType<ModelVersion> = named(
  "ModelVersion",
  z.strictObject({
    name: z.string(),
    version: z.number(),
    runId: z.string().nullable().describe("Run that produced it, if any"),
    source: z.string().describe("Artifact URI of the model bundle directory"),
    signature: z.string().nullable().describe("The bundle's MLflow signature as JSON text"),
    description: z.string(),
    createdAt: ms("creation time"),
    aliases: z.array(z.string()).describe("Aliases that point at this version"),
    tags: stringMap("tag key → value"),
  }),
);

export const experimentListSchema = named("ExperimentList", z.array(experimentSchema));
export const experimentSummarySchema: z.ZodType<ExperimentSummary> = named(
  "ExperimentSummary",
  z.strictObject({
    id: id("experiment"),
    name: z.string(),
    artifactLocation: z.string(),
    createdAt: ms("creation time"),
    tags: stringMap("tag key → value"),
    runCount: z.number().describe("How many runs the experiment has"),
    lastActivity: ms("latest run start or end (else the creation time)"),
  }),
);
export const experimentSummaryListSchema = named(
  "ExperimentSummaryList",
  z.array(experimentSummarySchema).describe("In creation order"),
);
export const experimentKeysSchema: z.ZodType<ExperimentKeys> = named(
  "ExperimentKeys",
  z.strictObject({
    params: z.array(z.string()).describe("Param keys logged by the experiment's runs, sorted"),
    metrics: z.array(z.string()).describe("Metric keys, sorted"),
    tags: z.array(z.string()).describe("Run tag keys, sorted"),
  }),
);
export const runListSchema = named("RunList", z.array(runSchema));
export const searchRunsResultSchema: z.ZodType<SearchRunsResult> = named(
  "SearchRunsResult",
  z.strictObject({
    runs: z.array(runSchema),
    nextPageToken: z
      .string()
      .optional()
      .describe("Present when more runs match: send it as pageToken for the next page"),
    total: z
      .number()
      .optional()
      .describe("How many runs match, over all pages; present when includeTotal was true"),
  }),
);
export const metricHistorySchema = named(
  "MetricHistory",
  z.array(metricPointSchema).describe("Ascending by step, then in logging order"),
);
export const metricChartSchema = named(
  "MetricChart",
  z.strictObject({
    key: z.string(),
    total: z.number().describe("How many points the metric has"),
    downsampled: z.boolean().describe("true when `points` is a downsampled subset (LTTB)"),
    points: z
      .array(metricPointSchema)
      .describe("Ascending by the chosen x (step or timestamp); at most maxPoints"),
  }),
);
export const registeredModelListSchema = named(
  "RegisteredModelList",
  z.array(registeredModelSchema).describe("By name"),
);
export const modelVersionListSchema = named(
  "ModelVersionList",
  z.array(modelVersionSchema).describe("Ascending by version"),
);

export const errorBodySchema = named(
  "Error",
  z.object({
    error: z.object({
      code: z.enum([...REGISTRY_ERROR_CODES, INTERNAL_ERROR_CODE]),
      message: z.string(),
      field: z.string().optional().describe("The request field at fault, when one is"),
      position: z
        .number()
        .optional()
        .describe("Of a search syntax error: the 1-based character position in `field`"),
    }),
  }),
);

export const healthSchema = named(
  "Health",
  z.object({ status: z.literal("ok"), version: z.string() }),
);

// ── requests ──────────────────────────────────────────────────────────────────────────────
// Bodies are strict: an unknown (e.g. misspelt) field is a 400 naming it, not silently ignored.

export const createExperimentBody = named(
  "CreateExperimentRequest",
  z.strictObject({
    name: z.string(),
    artifactLocation: z
      .string()
      .optional()
      .describe(
        "A URI (s3://bucket/prefix) or an absolute path; default <server artifact root>/<id>",
      ),
    tags: stringMap("tag key → value").optional(),
  }),
);

export const createRunBody = named(
  "CreateRunRequest",
  z.strictObject({
    experimentId: z.string(),
    name: z.string().optional().describe("Default: a generated readable name"),
    tags: stringMap("tag key → value").optional(),
    startTime: ms("start time").optional().describe("Default: now"),
  }),
);

export const searchRunsBody = named(
  "SearchRunsRequest",
  z.strictObject({
    experimentIds: z
      .array(z.string())
      .optional()
      .describe("Runs of these experiments; all experiments when absent or empty"),
    filter: z
      .string()
      .optional()
      .describe(
        'MLflow search syntax, e.g. metrics.valid_rmse < 5.5 and params.alpha = "0"; ' +
          "a syntax error is a 400 naming the position (1 = first character)",
      ),
    orderBy: z
      .array(z.string())
      .optional()
      .describe(
        'e.g. ["metrics.rmse ASC", "params.alpha DESC"]; runs missing a key come last; ' +
          "default: newest first",
      ),
    maxResults: z.number().optional().describe("Runs per page; default 1000, at most 50000"),
    pageToken: z.string().optional().describe("nextPageToken of the previous page"),
    includeTotal: z
      .boolean()
      .optional()
      .describe(
        "true: the answer also carries `total`, how many runs match over all pages (one " +
          "COUNT over the filter; not in MLflow's SearchRuns, so off by default)",
      ),
  }),
);

export const logParamsBody = named(
  "LogParamsRequest",
  z.strictObject({
    params: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .describe("Stored as strings; a key logged again must keep its value"),
  }),
);

export const logMetricsBody = named(
  "LogMetricsRequest",
  z.strictObject({
    metrics: z.array(
      z.strictObject({
        key: z.string(),
        value: z.number(),
        step: z.number().optional().describe("Default 0"),
        timestamp: ms("when measured").optional().describe("Default: now"),
      }),
    ),
  }),
);

export const setTagsBody = named(
  "SetRunTagsRequest",
  z.strictObject({ tags: stringMap("tag key → value; existing keys are overwritten") }),
);

export const endRunBody = named(
  "EndRunRequest",
  z.strictObject({
    status: z.enum(["FINISHED", "FAILED", "KILLED"]),
    endTime: ms("end time").optional().describe("Default: now"),
  }),
);

export const createModelBody = named(
  "CreateRegisteredModelRequest",
  z.strictObject({ name: z.string(), description: z.string().optional() }),
);

export const createVersionBody = named(
  "CreateModelVersionRequest",
  z.strictObject({
    source: z.string().describe("Artifact URI of the model bundle directory"),
    runId: z.string().optional(),
    signature: z.string().optional().describe("MLflow signature as JSON text"),
    description: z.string().optional(),
    tags: stringMap("tag key → value").optional(),
  }),
);

export const setVersionTagsBody = named(
  "SetModelVersionTagsRequest",
  z.strictObject({
    tags: stringMap("tag key → value; existing keys are overwritten, others kept"),
  }),
);

export const setAliasBody = named(
  "SetAliasRequest",
  z.strictObject({ version: z.number().describe("Existing version the alias points at") }),
);

// ── path and query parameters ─────────────────────────────────────────────────────────────
// Numbers arrive as text; z.coerce turns "abc" into NaN, which z.number() refuses.

const pathText = (description: string) => z.string().describe(description);

export const experimentIdParams = z.object({ id: pathText("Experiment id") });
export const runIdParams = z.object({ id: pathText("Run id") });
export const metricParams = z.object({
  id: pathText("Run id"),
  key: pathText("Metric key (URL-encoded: eval%2Frmse)"),
});
export const modelParams = z.object({ name: pathText("Registered model name") });
export const versionParams = z.object({
  name: pathText("Registered model name"),
  version: z.coerce.number().describe("Version number"),
});
export const versionTagParams = z.object({
  name: pathText("Registered model name"),
  version: z.coerce.number().describe("Version number"),
  key: pathText("Tag key (URL-encoded: team%2Fowner)"),
});
export const aliasParams = z.object({
  name: pathText("Registered model name"),
  alias: pathText("Alias, e.g. production"),
});

export const listExperimentsQuery = z.strictObject({
  name: z
    .string()
    .optional()
    .describe("Only the experiment with this exact name: the list is empty or has one item"),
});

export const metricChartQuery = z.strictObject({
  maxPoints: z.coerce
    .number()
    .int()
    .min(3)
    .max(100_000)
    .default(1000)
    .describe("Most points answered (default 1000): longer histories are downsampled by LTTB"),
  x: z
    .enum(["step", "time"])
    .default("step")
    .describe("The axis the points are ordered and downsampled along"),
});

export const listRunsQuery = z.strictObject({
  experimentId: z.string().optional(),
  status: runStatusSchema.optional(),
  limit: z.coerce.number().optional().describe("Most runs returned, newest first; default 100"),
});

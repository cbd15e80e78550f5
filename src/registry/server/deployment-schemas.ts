import { z } from "zod";
import { DEPLOYMENT_MODES, type Deployment, type DeploymentHeartbeat } from "../store/types.js";
import { apiSchemas } from "./schemas.js";

/** Request and response shapes of the deployment routes (see schemas.ts for the conventions). */

function named<T extends z.ZodType>(id: string, schema: T): T {
  apiSchemas.add(schema, { id });
  return schema;
}

const ms = (what: string) => z.number().describe(`${what}, milliseconds since the epoch`);

const heartbeatFields = {
  mode: z.enum(DEPLOYMENT_MODES),
  host: z.string().describe("The machine's host name"),
  pid: z.number(),
  endpoint: z
    .string()
    .describe(
      "serve: its base URL (http://host:port); stream: source and consumer group; batch: job id and schedule",
    ),
  modelUri: z.string().describe("The model URI as given, e.g. models:/ride-duration@production"),
  modelName: z.string().nullable(),
  modelVersion: z.string().nullable().describe("The version it runs now"),
  versionSince: ms("since when it runs that version"),
  startedAt: ms("process start"),
  rate: z.number().describe("Requests, events or rows per second over the last interval"),
  intervalMs: z
    .number()
    .describe("How often it beats; listed until 3 intervals pass without a beat"),
};

export const heartbeatBody = named(
  "DeploymentHeartbeat",
  z.strictObject(heartbeatFields),
) satisfies z.ZodType<Omit<DeploymentHeartbeat, "id">>;

export const deploymentSchema: z.ZodType<Deployment> = named(
  "Deployment",
  z.strictObject({
    id: z.string().describe("Random per process: 32 lowercase hex characters"),
    ...heartbeatFields,
    lastBeatAt: ms("when the registry received the last beat"),
    follows: z
      .string()
      .nullable()
      .describe("The alias the model URI follows, or latest; null for a fixed version"),
    targetVersion: z
      .number()
      .nullable()
      .describe("The version that alias points at now; null when it follows nothing"),
    lagging: z.boolean().describe("Follows an alias and does not run its current version yet"),
  }),
);

export const deploymentListSchema = named(
  "DeploymentList",
  z.array(deploymentSchema).describe("Live deployments, newest start first"),
);

export const deploymentIdParams = z.object({
  id: z.string().describe("Deployment id: 32 lowercase hex characters"),
});

export const inputExampleSchema = named(
  "InputExample",
  z.strictObject({
    file: z.string().describe("The bundle file it was read from"),
    example: z
      .unknown()
      .describe("The request body the version's bundle gives as example (MLflow scoring format)"),
  }),
);

export const invocationAnswerSchema = named(
  "InvocationAnswer",
  z.strictObject({
    status: z
      .number()
      .nullable()
      .describe("The serve deployment's HTTP status; null when it could not be reached"),
    contentType: z.string().nullable(),
    body: z.unknown().describe("Its answer: parsed JSON, or text"),
    truncated: z.boolean().describe("The answer was longer than the limit and was cut"),
    error: z.string().optional().describe("Why the deployment could not be reached"),
    ms: z.number().describe("Round trip, milliseconds"),
  }),
);

import { z } from "zod";
import { importSettingsShape } from "../import/options.js";
import {
  intSetting,
  logLevelSetting,
  logFormatSetting,
  metricsHostSetting,
  modelSetting,
} from "../config/settings.js";
import { heartbeatIntervalSetting } from "../registry/deployments/options.js";
import { ORIGINAL_FORMAT } from "./events.js";
import { predictionLogSettingsShape } from "../monitor/prediction-log/options.js";

/** Options of `mldeploy stream` (flags > MLDEPLOY_* env > the config file's `stream:` section). */
export const streamOptionsSchema = z
  .object({
    model: modelSetting(),
    ...importSettingsShape,
    ...predictionLogSettingsShape,
    source: z
      .string()
      .min(1)
      .describe(
        "Events to score: kinesis://<stream>, nats://host:4222/<stream>, redis://host:6379/<key> or kafka://host:9092/<topic>",
      ),
    sink: z.string().min(1).describe("Where predictions go (same URL forms)"),
    deadLetter: z
      .string()
      .min(1)
      .optional()
      .describe("Where bad events go, with the error and the original payload (default: logged)"),
    group: z
      .string()
      .min(1)
      .default("mldeploy")
      .describe("Consumer group: processes with the same group share the events"),
    consumer: z
      .string()
      .min(1)
      .optional()
      .describe("This consumer's name in the group (default host-pid)"),
    batchSize: intSetting(1, 100_000).default(500).describe("Most events predicted in one call"),
    maxWaitMs: intSetting(1, 60_000).default(20).describe("How long a batch waits to fill up"),
    inputField: z
      .string()
      .default(ORIGINAL_FORMAT.inputField)
      .describe('Event field with the model inputs ("" = the whole event)'),
    idField: z
      .string()
      .default(ORIGINAL_FORMAT.idField)
      .describe('Event field copied into the prediction as its id ("" = none)'),
    predictionField: z
      .string()
      .min(1)
      .default(ORIGINAL_FORMAT.predictionField)
      .describe("Name of the predicted value in output events"),
    modelLabel: z
      .string()
      .min(1)
      .default(ORIGINAL_FORMAT.modelLabel)
      .describe("The `model` label of output events"),
    pollIntervalMs: intSetting(0, 86_400_000)
      .default(10_000)
      .describe(
        "For a registry alias (models:/name@alias): how often to check whether it moved, and switch between batches; 0 = never",
      ),
    heartbeatIntervalMs: heartbeatIntervalSetting(),
    metricsHost: metricsHostSetting(),
    metricsPort: intSetting(0, 65535)
      .optional()
      .describe(
        "Serve Prometheus metrics on GET /metrics at this port (0 = any free port; unset = none)",
      ),
    logLevel: logLevelSetting(),
    logFormat: logFormatSetting(),
  })
  .strict();

export type StreamOptions = z.output<typeof streamOptionsSchema>;

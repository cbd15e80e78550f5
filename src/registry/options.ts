import { z } from "zod";

/**
 * Where the registry lives: the settings every command that touches it shares (train,
 * runs, models, serve, batch, stream, registry-server). Keys are the config file's
 * `registry:` section; each is also a flag and an MLDEPLOY_* variable.
 */
export const registrySettingsSchema = z
  .object({
    registryUrl: z
      .string()
      .optional()
      .describe(
        "Tracking store: unset = SQLite in the data dir; sqlite:<file>, postgres://…, or http(s)://… of a registry-server",
      ),
    registryToken: z.string().optional().describe("Bearer token for an http(s) registry-server"),
    dataDir: z
      .string()
      .min(1)
      .default("./mldeploy-data")
      .describe("Embedded registry, local artifacts and the model cache live here"),
    artifactRoot: z
      .string()
      .optional()
      .describe(
        "Where new experiments store artifacts: a directory or s3://bucket/prefix; default <dataDir>/artifacts",
      ),
    cacheDir: z
      .string()
      .optional()
      .describe("Downloaded models, keyed by version; default <dataDir>/cache/models"),
  })
  .strict();

export type RegistrySettings = z.infer<typeof registrySettingsSchema>;

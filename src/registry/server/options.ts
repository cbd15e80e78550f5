import { z } from "zod";
import {
  intSetting,
  logLevelSetting,
  logFormatSetting,
  parseSettings,
} from "../../config/settings.js";

/** Largest request body by default. Options live apart from app.ts so that the CLI can list them without loading Fastify. */
export const DEFAULT_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

/**
 * Options of the registry server command. The CLI merges flags > MLDEPLOY_* env > config file
 * and validates the result with this schema; field names are what the config file uses.
 */
export const registryServerOptionsSchema = z
  .object({
    host: z
      .string()
      .min(1)
      .default("127.0.0.1")
      .describe(
        "Interface to listen on; 127.0.0.1 = this machine only, 0.0.0.0 = all IPv4 interfaces (set a token then)",
      ),
    port: intSetting(0, 65535).default(5050).describe("TCP port (0 = pick a free one)"),
    // Named as on the client side, so one MLDEPLOY_REGISTRY_TOKEN serves both.
    registryToken: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Bearer token every API request (/api/…) must carry (reads too, unless --public-read); clients send it from MLDEPLOY_REGISTRY_TOKEN (the web UI asks for it)",
      ),
    publicRead: z
      .boolean()
      .default(false)
      .describe(
        "With a token set: answer reads (GET/HEAD under /api/, and the runs search) without a token, so anyone who can connect may browse the registry and its UI; writes still need the token, and a wrong token is refused even on reads",
      ),
    dataDir: z
      .string()
      .min(1)
      .default("./mldeploy-data")
      .describe("Holds the default SQLite registry and local artifacts"),
    registryUrl: z
      .string()
      .min(1)
      .refine((url) => !/^https?:/i.test(url), {
        message: "a registry server stores into SQLite or PostgreSQL, not another registry server",
      })
      .optional()
      .describe(
        "Store the server keeps the registry in: sqlite:<path> or postgres://user@host/db; default the SQLite file <dataDir>/registry.db",
      ),
    artifactRoot: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Where experiments created without a location put artifacts; use a location every client can reach (s3://bucket/prefix). Default <dataDir>/artifacts",
      ),
    allowedArtifactRoots: z
      .union([z.string(), z.array(z.string())])
      .default([])
      .transform((value) =>
        (Array.isArray(value) ? value : value.split(","))
          .map((root) => root.trim())
          .filter((root) => root !== ""),
      )
      .describe(
        "Comma-separated directories or s3://bucket/prefix where clients may also point model version sources and experiment artifact locations; the artifact root is always allowed, anything else is refused with 400",
      ),
    bodyLimitBytes: intSetting(1024, 1024 * 1024 * 1024)
      .default(DEFAULT_BODY_LIMIT_BYTES)
      .describe("Largest request body in bytes (a batch of metrics is one request)"),
    logLevel: logLevelSetting("Log level (request lines are logged at debug)"),
    logFormat: logFormatSetting(),
  })
  .strict();

/** Validated options with defaults applied. */
export type RegistryServerSettings = z.output<typeof registryServerOptionsSchema>;
/** What a caller may pass before defaults. */
export type RegistryServerSettingsInput = z.input<typeof registryServerOptionsSchema>;

/** Validates and fills defaults; throws an Error listing every bad field by name. */
export function parseRegistryServerOptions(
  input: RegistryServerSettingsInput | Record<string, unknown>,
): RegistryServerSettings {
  return parseSettings(registryServerOptionsSchema, input, "registry server options");
}

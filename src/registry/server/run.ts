import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { silentLogger, type Logger } from "../../log/logger.js";
import type { TrackingStore } from "../store/types.js";
import { buildRegistryServer, DEFAULT_BODY_LIMIT_BYTES } from "./app.js";

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

// Numbers are coerced because the CLI feeds MLDEPLOY_* environment variables (strings) through
// this schema as well as flags and config-file values.
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

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
    port: int(0, 65535).default(5050).describe("TCP port (0 = pick a free one)"),
    // Named as on the client side, so one MLDEPLOY_REGISTRY_TOKEN serves both.
    registryToken: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Bearer token every request but /health must carry; clients send it from MLDEPLOY_REGISTRY_TOKEN",
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
    bodyLimitBytes: int(1024, 1024 * 1024 * 1024)
      .default(DEFAULT_BODY_LIMIT_BYTES)
      .describe("Largest request body in bytes (a batch of metrics is one request)"),
    logLevel: z
      .enum(logLevels)
      .default("info")
      .describe("Log level (request lines are logged at debug)"),
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
  const parsed = registryServerOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.length ? issue.path.join(".") : "(options)"}: ${issue.message}`,
    );
    throw new Error(`invalid registry server options: ${problems.join("; ")}`);
  }
  return parsed.data;
}

export interface RunRegistryServerInput {
  /** Opened by the caller (e.g. openStore(registryUrl)); not closed by close(). */
  store: TrackingStore;
  host?: string;
  port?: number;
  token?: string;
  bodyLimitBytes?: number;
  logger?: Logger;
}

export interface RunningRegistryServer {
  /** Where clients connect: set MLDEPLOY_REGISTRY_URL to this. */
  url: string;
  app: FastifyInstance;
  /** Stops accepting; in-flight requests finish, idle keep-alive connections are closed. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.|localhost$|::1$|\[::1\]$)/;

/**
 * Listens with the registry API over `store`. Signal handling is the caller's: on SIGTERM call
 * close(), then close the store.
 */
export async function runRegistryServer(
  input: RunRegistryServerInput,
): Promise<RunningRegistryServer> {
  const settings = registryServerOptionsSchema
    .pick({ host: true, port: true, bodyLimitBytes: true })
    .parse({ host: input.host, port: input.port, bodyLimitBytes: input.bodyLimitBytes });
  const logger = input.logger ?? silentLogger();
  const app = await buildRegistryServer(input.store, {
    token: input.token,
    logger,
    bodyLimitBytes: settings.bodyLimitBytes,
  });
  await app.listen({ host: settings.host, port: settings.port });
  const url = listeningUrl(app, settings.host);

  if (input.token === undefined && !LOOPBACK.test(settings.host)) {
    logger.warn(
      { host: settings.host },
      "registry server reachable from other machines without a token: anyone who can connect can change the registry",
    );
  }
  logger.info(
    { url, store: input.store.description, auth: input.token !== undefined },
    `registry server for ${input.store.description} at ${url}`,
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    app,
    close: () =>
      (closing ??= (async () => {
        await app.close();
      })()),
  };
}

function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  // 0.0.0.0 and :: are where we listen, not an address a client can connect to.
  const shown =
    host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

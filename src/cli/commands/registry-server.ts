import type { Command } from "commander";
import { resolveConfig } from "../../config/load.js";
import { createLogger } from "../../log/logger.js";
import {
  registryServerOptionsSchema,
  type RegistryServerSettings,
} from "../../registry/server/options.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";

export function registerRegistryServer(program: Command): void {
  const command = program
    .command("registry-server")
    .description(
      "Serve the registry over HTTP (JSON API, OpenAPI at /api/v1/openapi.json, the web UI at /) so several machines share it",
    )
    .option(
      "--config <file>",
      "config file with a `registry-server:` section (default ./mldeploy.config.yaml if present)",
    );
  addSchemaOptions(command, registryServerOptionsSchema);
  command.addHelpText(
    "after",
    `
Clients point MLDEPLOY_REGISTRY_URL at it (and send MLDEPLOY_REGISTRY_TOKEN when one is set).
Keep artifacts where every client can reach them (--artifact-root s3://bucket/prefix).
The web UI is at its root URL; with a token set, the UI asks for it. With --public-read,
reads (GET/HEAD: the UI's pages, mldeploy models list) need no token; writes still do, and
a wrong token is refused even on reads.

Example:
  MLDEPLOY_REGISTRY_TOKEN=s3cret mldeploy registry-server --host 0.0.0.0 \\
    --registry-url postgres://mlflow@db/registry --artifact-root s3://models/mldeploy
  MLDEPLOY_REGISTRY_URL=http://registry-host:5050 MLDEPLOY_REGISTRY_TOKEN=s3cret mldeploy models list`,
  );
  command.action(async (flags: Record<string, unknown>) => {
    const settings = resolveConfig(registryServerOptionsSchema, {
      section: "registry-server",
      flags: pickSchemaFlags(registryServerOptionsSchema, flags),
      configFile: typeof flags.config === "string" ? flags.config : undefined,
    });
    await serveRegistry(settings);
  });
}

/**
 * Opens the store and listens with the registry API and the web UI until SIGTERM/SIGINT.
 * Shared by `registry-server` and `ui`, which differ only in their defaults.
 */
export async function serveRegistry(settings: RegistryServerSettings): Promise<void> {
  const logger = createLogger({ level: settings.logLevel, format: settings.logFormat });
  const [{ openStore }, { runRegistryServer }] = await Promise.all([
    import("../../registry/store/open-store.js"),
    import("../../registry/server/run.js"),
  ]);
  const store = await openStore(settings.registryUrl, {
    dataDir: settings.dataDir,
    artifactRoot: settings.artifactRoot,
    logger,
  });
  const server = await runRegistryServer({
    store,
    host: settings.host,
    port: settings.port,
    token: settings.registryToken,
    publicRead: settings.publicRead,
    bodyLimitBytes: settings.bodyLimitBytes,
    allowedArtifactRoots: settings.allowedArtifactRoots,
    logger,
    ui: true,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "shutting down");
    void server
      .close()
      .then(() => store.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

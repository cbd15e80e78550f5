import path from "node:path";
import type { Command } from "commander";
import { defaultPredictionLogDir } from "../../monitor/prediction-log/options.js";
import { resolveConfig } from "../../config/load.js";
import { createLogger } from "../../log/logger.js";
import { importCacheDir } from "../../import/servable.js";
import { parseArtifactUri } from "../../registry/artifacts/uri.js";
import { resolveFollowedModel } from "../../registry/follow-model.js";
import { parseModelUri } from "../../registry/model-uri.js";
import type { Registry } from "../../registry/registry.js";
import type { ResolvedModel } from "../../serve/one-process.js";
import { addRegistryOptions, openRegistry, resolveRegistrySettings } from "../registry-settings.js";
import { serveOptionsSchema, type ServeOptions } from "../../serve/options.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";

export function registerServe(program: Command): void {
  const command = program
    .command("serve")
    .description(
      "Serve a model over HTTP: /predict, MLflow /invocations, KServe V2 /v2/models/…, /metrics; and KServe V2 gRPC with --grpc-port",
    )
    .argument(
      "[model]",
      "models:/name@alias, models:/name/<version>, runs:/<run_id>/model, s3://bucket/key or a bundle directory (env MLDEPLOY_MODEL)",
    )
    .option(
      "--config <file>",
      "config file with a `serve:` section (default ./mldeploy.config.yaml if present)",
    );
  addSchemaOptions(command, serveOptionsSchema, ["model"]);
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Settings come from flags, then MLDEPLOY_* environment variables, then the config file.

Registry URIs follow their alias: when models:/name@alias moves, the service switches to the
new version without dropping a request (checked every --poll-interval-ms).

Examples:
  mldeploy serve ./mldeploy-data/models/ride-duration --port 9696
  mldeploy serve models:/ride-duration@production
  # more models next to it, each on /v2/models/<name>/infer (name= picks the served name)
  mldeploy serve models:/ride-duration@production \\
    --models staging=models:/ride-duration@staging,local=./mldeploy-data/models/ride-duration
  # KServe V2 / Open Inference Protocol gRPC (inference.GRPCInferenceService) too
  mldeploy serve models:/ride-duration@production --grpc-port 8001
  curl -s -X POST http://127.0.0.1:9696/predict -H 'Content-Type: application/json' \\
    -d '{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}'`,
  );
  command.action(async (model: string | undefined, flags: Record<string, unknown>) => {
    const options = resolveServeOptions(model, flags);
    await serveModel(options, flags);
  });
}

export function resolveServeOptions(
  model: string | undefined,
  flags: Record<string, unknown>,
): ServeOptions {
  const options = resolveConfig(serveOptionsSchema, {
    section: "serve",
    flags: { ...pickSchemaFlags(serveOptionsSchema, flags), model },
    configFile: typeof flags.config === "string" ? flags.config : undefined,
  });
  return options;
}

/** Starts serving and returns once listening; SIGTERM/SIGINT drain and exit. */
export async function serveModel(
  given: ServeOptions,
  registryFlags: Record<string, unknown> = {},
): Promise<{ url: string }> {
  let options = given;
  const logger = createLogger({ level: options.logLevel, format: options.logFormat });
  if (options.logPredictions && options.logPredictionsDir === undefined) {
    // The log lives with the registry's data unless told otherwise (monitor looks there too).
    const dataDir = resolveRegistrySettings(registryFlags).dataDir;
    options = { ...options, logPredictionsDir: path.resolve(defaultPredictionLogDir(dataDir)) };
  }
  let registry: Registry | undefined;
  let starting = true;
  // Loaded here, not at startup: every other command would pay for Fastify and prom-client.
  const { resolveLocalModel, runServe } = await import("../../serve/run.js");
  const running = await runServe(options, {
    logger,
    importCacheDir: importCacheDir(resolveRegistrySettings(registryFlags).dataDir),
    resolveModel: async (uri) => {
      const parsed = parseModelUri(uri);
      let resolved: ResolvedModel;
      if (parsed.kind === "artifact" && parseArtifactUri(parsed.uri).kind === "local") {
        // A bundle on this disk needs no registry (and must not create one).
        resolved = await resolveLocalModel(uri);
      } else {
        registry ??= await openRegistry(registryFlags);
        const following = (parsed.kind === "alias" || parsed.kind === "latest") && !starting;
        resolved = following
          ? await resolveFollowedModel(registry, uri)
          : await registry.resolveModel(uri);
      }
      return resolved;
    },
    // The registry the model came from hears the service's heartbeats (none for a local bundle).
    deploymentStore: () => registry?.store,
  });
  starting = false;
  return running;
}

import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { resolveConfig } from "../../config/load.js";
import { createLogger } from "../../log/logger.js";
import { readBundle } from "../../model/bundle.js";
import { resolveLocalModel, runServe } from "../../serve/run.js";
import { serveOptionsSchema, type ServeOptions } from "../../serve/options.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";

export function registerServe(program: Command): void {
  const command = program
    .command("serve")
    .description(
      "Serve a model over HTTP: /predict, MLflow /invocations, KServe V2 /v2/models/…, /metrics",
    )
    .argument("[model]", "model bundle directory or file:// URI (env MLDEPLOY_MODEL)")
    .option(
      "--config <file>",
      "config file with a `serve:` section (default ./mldeploy.config.yaml if present)",
    );
  addSchemaOptions(command, serveOptionsSchema, ["model"]);
  command.addHelpText(
    "after",
    `
Settings come from flags, then MLDEPLOY_* environment variables, then the config file.

Example:
  mldeploy serve ./mldeploy-data/models/ride-duration --port 9696
  curl -s -X POST http://127.0.0.1:9696/predict -H 'Content-Type: application/json' \\
    -d '{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}'`,
  );
  command.action(async (model: string | undefined, flags: Record<string, unknown>) => {
    const options = resolveServeOptions(model, flags);
    await serveModel(options);
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
export async function serveModel(options: ServeOptions): Promise<{ url: string }> {
  const logger = createLogger({ level: options.logLevel });
  return runServe(options, {
    logger,
    resolveModel: async (uri) => {
      let resolved;
      try {
        resolved = await resolveLocalModel(uri);
      } catch (error) {
        throw new UserError((error as Error).message);
      }
      // Check the bundle once here, so a bad model is one clear error, not N crashing workers.
      await readBundle(resolved.path);
      return resolved;
    },
  });
}

import type { Command } from "commander";
import { intSetting } from "../../config/settings.js";
import { resolveConfig } from "../../config/load.js";
import { registryServerOptionsSchema } from "../../registry/server/options.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";
import { serveRegistry } from "./registry-server.js";

/** The registry server's options; port 5000 as MLflow's `mlflow ui`. */
export const uiOptionsSchema = registryServerOptionsSchema.extend({
  port: intSetting(0, 65535).default(5000).describe("TCP port (0 = pick a free one)"),
});

export function registerUi(program: Command): void {
  const command = program
    .command("ui")
    .description(
      "Browse the local registry in a web browser: experiments and their runs (the registry API is served too)",
    )
    .option(
      "--config <file>",
      "config file with a `ui:` section (default ./mldeploy.config.yaml if present)",
    );
  addSchemaOptions(command, uiOptionsSchema);
  command.addHelpText(
    "after",
    `
Reads the registry in --data-dir (default ./mldeploy-data) or --registry-url; open the URL it
prints. With MLDEPLOY_REGISTRY_TOKEN set, the page asks for the token; add --public-read to let
anyone browse without it (changes, such as moving an alias, still ask for the token).

Example:
  mldeploy ui                 # http://127.0.0.1:5000
  mldeploy ui --port 8080 --data-dir /srv/mldeploy-data
  MLDEPLOY_REGISTRY_TOKEN=s3cret mldeploy ui --host 0.0.0.0 --public-read`,
  );
  command.action(async (flags: Record<string, unknown>) => {
    const settings = resolveConfig(uiOptionsSchema, {
      section: "ui",
      flags: pickSchemaFlags(uiOptionsSchema, flags),
      configFile: typeof flags.config === "string" ? flags.config : undefined,
    });
    await serveRegistry(settings);
  });
}

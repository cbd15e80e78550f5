import type { Command } from "commander";
import { importSettingsShape } from "../import/options.js";
import { localModelPath, resolveRegistrySettings } from "./registry-settings.js";

/** --feature (repeatable) and --output, for commands whose model may come from Python. */
export function addImportOptions(command: Command): Command {
  return command
    .option(
      "--feature <NAME=EXPR>",
      importSettingsShape.feature.description ?? "",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--output <name>", importSettingsShape.output.description ?? "");
}

/**
 * The bundle directory a model argument names: resolved as localModelPath does, and converted
 * (once, cached under the data directory) when it is a model from the Python world.
 */
export async function servableModelPath(
  model: string,
  flags: Record<string, unknown>,
): Promise<string> {
  const local = await localModelPath(model, flags);
  const { importCacheDir, servableBundle } = await import("../import/servable.js");
  const features = Array.isArray(flags.feature) ? (flags.feature as string[]) : [];
  return servableBundle(local, {
    features,
    output: typeof flags.output === "string" ? flags.output : undefined,
    cacheDir: importCacheDir(resolveRegistrySettings(flags).dataDir),
    uri: model,
  });
}

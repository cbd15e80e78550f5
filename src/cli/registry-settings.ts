import type { Command } from "commander";
import { resolveConfig } from "../config/load.js";
import { registrySettingsSchema, type RegistrySettings } from "../registry/options.js";
import { parseArtifactUri } from "../registry/artifacts/uri.js";
import { parseModelUri } from "../registry/model-uri.js";
import type { Registry } from "../registry/registry.js";
import { addSchemaOptions, pickSchemaFlags } from "./schema-options.js";

/** Adds --registry-url, --data-dir, … (each also MLDEPLOY_* and the config file's `registry:`). */
export function addRegistryOptions(command: Command): Command {
  return addSchemaOptions(command, registrySettingsSchema);
}

/** For commands whose only settings are the registry's: --config, then the registry options. */
export function addRegistryConfigOptions(command: Command): Command {
  command.option(
    "--config <file>",
    "config file with a `registry:` section (default ./mldeploy.config.yaml if present)",
  );
  return addRegistryOptions(command);
}

export function resolveRegistrySettings(flags: Record<string, unknown>): RegistrySettings {
  return resolveConfig(registrySettingsSchema, {
    section: "registry",
    flags: pickSchemaFlags(registrySettingsSchema, flags),
    configFile: typeof flags.config === "string" ? flags.config : undefined,
  });
}

/** Opens the registry the flags, environment and config file name (lazily imported: heavy). */
export async function openRegistry(flags: Record<string, unknown>): Promise<Registry> {
  const settings = resolveRegistrySettings(flags);
  const { Registry } = await import("../registry/registry.js");
  return Registry.open({
    url: settings.registryUrl,
    token: settings.registryToken,
    dataDir: settings.dataDir,
    artifactRoot: settings.artifactRoot,
    cacheDir: settings.cacheDir,
  });
}

/** Runs `use` with an open registry and always closes it (a pool must not keep the CLI alive). */
export async function withRegistry<T>(
  flags: Record<string, unknown>,
  use: (registry: Registry) => Promise<T>,
): Promise<T> {
  const registry = await openRegistry(flags);
  try {
    return await use(registry);
  } finally {
    await registry.close();
  }
}

/**
 * The local bundle directory a model argument names. A directory or file:// URI is used as it
 * is, without opening the registry (no data directory appears as a side effect);
 * models:/, runs:/ and s3:// go through the registry, which downloads them to its cache.
 */
export async function localModelPath(
  model: string,
  flags: Record<string, unknown>,
): Promise<string> {
  const parsed = parseModelUri(model);
  if (parsed.kind === "artifact") {
    const location = parseArtifactUri(parsed.uri);
    if (location.kind === "local") return location.path;
  }
  return withRegistry(flags, async (registry) => (await registry.resolveModel(model)).path);
}

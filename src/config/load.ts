import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

import { UserError } from "./errors.js";

/** A user mistake in configuration: printed as one line, never as a stack trace. */
export class ConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export const DEFAULT_CONFIG_FILES = [
  "mldeploy.config.yaml",
  "mldeploy.config.yml",
  "mldeploy.config.json",
];

export interface ResolveConfigOptions {
  /** Section of the config file to read (e.g. "serve"); the file's top level holds one section a verb. */
  section: string;
  /** Values from command-line flags; undefined means "not given". */
  flags: Record<string, unknown>;
  /** Environment to read `MLDEPLOY_*` variables from. */
  env?: NodeJS.ProcessEnv;
  /** Explicit config file (`--config` or MLDEPLOY_CONFIG); otherwise ./mldeploy.config.{yaml,yml,json} if present. */
  configFile?: string;
  cwd?: string;
}

type Source = "flag" | "env" | "file" | "default";

/** `maxBatchDelayMs` → `MLDEPLOY_MAX_BATCH_DELAY_MS`. */
export function envName(key: string): string {
  return "MLDEPLOY_" + key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * Merges defaults < config file < environment < flags and validates with the verb's zod schema.
 * Errors name the setting and where its bad value came from.
 */
export function resolveConfig<S extends z.ZodObject>(
  schema: S,
  options: ResolveConfigOptions,
): z.infer<S> {
  const env = options.env ?? process.env;
  const shape = schema.shape as Record<string, z.ZodType>;
  const merged: Record<string, unknown> = {};
  const sources: Record<string, { source: Source; detail: string }> = {};

  const file = findConfigFile(
    options.configFile ?? env.MLDEPLOY_CONFIG,
    options.cwd ?? process.cwd(),
  );
  if (file) {
    const section = readSection(file, options.section);
    for (const [key, value] of Object.entries(section)) {
      if (!(key in shape)) {
        throw new ConfigError(
          `${file}: unknown setting "${options.section}.${key}" (known: ${Object.keys(shape).join(", ")})`,
        );
      }
      merged[key] = value;
      sources[key] = { source: "file", detail: file };
    }
  }
  for (const key of Object.keys(shape)) {
    const raw = env[envName(key)];
    if (raw === undefined || raw === "") continue;
    merged[key] = fromString(raw, kindOf(shape[key]));
    sources[key] = { source: "env", detail: envName(key) };
  }
  for (const [key, value] of Object.entries(options.flags)) {
    if (value === undefined || !(key in shape)) continue;
    merged[key] = typeof value === "string" ? fromString(value, kindOf(shape[key])) : value;
    sources[key] = {
      source: "flag",
      detail: `--${key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`,
    };
  }

  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue.path[0] ?? "");
    const origin = sources[key];
    if (merged[key] === undefined) {
      throw new ConfigError(
        `setting "${key}" is required: give it as an argument or flag, as ${envName(key)}, or in the config file`,
      );
    }
    const where = origin
      ? ` (from ${origin.source === "file" ? `config file ${origin.detail}` : origin.detail})`
      : "";
    throw new ConfigError(`invalid setting "${key}"${where}: ${issue.message}`);
  }
  return parsed.data;
}

function findConfigFile(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
    return file;
  }
  return DEFAULT_CONFIG_FILES.map((name) => path.join(cwd, name)).find((file) => existsSync(file));
}

function readSection(file: string, section: string): Record<string, unknown> {
  let doc: unknown;
  try {
    const text = readFileSync(file, "utf8");
    doc = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${file} cannot be parsed: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (doc == null) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new ConfigError(`config file ${file} must hold a mapping of sections`);
  const value = (doc as Record<string, unknown>)[section];
  if (value == null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(
      `config file ${file}: section "${section}" must be a mapping of settings`,
    );
  }
  return value as Record<string, unknown>;
}

type Kind = "number" | "boolean" | "string" | "other";

/** The primitive a setting expects, looking through default/optional/nullable wrappers. */
function kindOf(type: z.ZodType): Kind {
  let def = (
    type as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } }
  )._zod.def;
  for (let depth = 0; depth < 8; depth++) {
    if (def.type === "number" || def.type === "int") return "number";
    if (def.type === "boolean") return "boolean";
    if (def.type === "string" || def.type === "enum" || def.type === "literal") return "string";
    const inner = def.innerType ?? def.in;
    if (!inner) return "other";
    def = (inner as unknown as { _zod: { def: typeof def } })._zod.def;
  }
  return "other";
}

function fromString(raw: string, kind: Kind): unknown {
  if (kind === "number") {
    const n = Number(raw);
    return raw.trim() !== "" && Number.isFinite(n) ? n : raw;
  }
  if (kind === "boolean") {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
  }
  return raw;
}

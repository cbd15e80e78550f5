import { Option, type Command } from "commander";
import type { z } from "zod";
import { envName } from "../config/load.js";

/** `maxBatchDelayMs` → `--max-batch-delay-ms`. */
export function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/**
 * Adds one flag per setting of a zod options schema, with the schema's description, its env
 * variable and its default in the help text. Flags carry no commander default, so "not given"
 * stays undefined and the env/config-file layers underneath can apply.
 */
export function addSchemaOptions(
  command: Command,
  schema: z.ZodObject,
  skip: string[] = [],
): Command {
  // --feature may be given many times: each adds one declaration.
  const repeatable = new Set(["feature", "combine"]);
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    if (skip.includes(key)) continue;
    const described = field.description ?? "";
    const fallback = field.safeParse(undefined);
    const shownDefault =
      fallback.success && fallback.data !== undefined
        ? `; default ${JSON.stringify(fallback.data)}`
        : "";
    // A setting that is off unless asked for is a plain switch (`--from-start`).
    const isSwitch = fallback.success && fallback.data === false;
    const option = new Option(
      isSwitch ? flagName(key) : `${flagName(key)} <value>`,
      `${described} (env ${envName(key)}${isSwitch ? "" : shownDefault})`,
    );
    if (repeatable.has(key)) {
      option.argParser((value: string, previous: unknown) => [
        ...(Array.isArray(previous) ? (previous as string[]) : []),
        value,
      ]);
    }
    command.addOption(option);
  }
  return command;
}

/** Commander names options by camelCase of the flag, which is the schema key itself. */
export function pickSchemaFlags(
  schema: z.ZodObject,
  flags: Record<string, unknown>,
): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape as Record<string, unknown>)) {
    if (flags[key] !== undefined) picked[key] = flags[key];
  }
  return picked;
}

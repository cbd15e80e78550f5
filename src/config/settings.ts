import { z } from "zod";

/**
 * Building blocks shared by the verbs' option schemas. Numbers are coerced because MLDEPLOY_*
 * environment variables (strings) go through the same schemas as flags and config files.
 */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** auto = human-readable lines on a terminal, JSON lines when piped (see log/logger.ts). */
export const LOG_FORMATS = ["auto", "json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const intSetting = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A list of column names: comma-separated text (a flag, an env variable) or a YAML list. */
export const columnListSetting = () =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((value) =>
      (Array.isArray(value) ? value : value.split(","))
        .map((name) => name.trim())
        .filter((name) => name !== ""),
    );

export const logLevelSetting = (description = "Log level") =>
  z.enum(LOG_LEVELS).default("info").describe(description);

export const logFormatSetting = () =>
  z
    .enum(LOG_FORMATS)
    .default("auto")
    .describe(
      "Log format: auto = short human-readable lines on a terminal, JSON lines when stdout is piped (containers, log shippers); json; pretty",
    );

/** The model a verb runs: any model URI the registry resolves, or a bundle directory. */
export const modelSetting = () =>
  z
    .string()
    .min(1)
    .describe(
      "Model: models:/name@alias, models:/name/<version>, runs:/<id>/model, s3://… or a bundle directory",
    );

/** The interface a mode's separate --metrics-port server listens on (batch, stream). */
export const metricsHostSetting = () =>
  z
    .string()
    .min(1)
    .default("127.0.0.1")
    .describe(
      "Interface the --metrics-port server listens on: 127.0.0.1 = this machine only (default); 0.0.0.0 = all IPv4 interfaces, for a Prometheus elsewhere (the container image sets it)",
    );

/** Validates and fills defaults; throws an Error listing every bad field by name. */
export function parseSettings<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.length ? issue.path.join(".") : "(options)"}: ${issue.message}`,
    );
    throw new Error(`invalid ${what}: ${problems.join("; ")}`);
  }
  return parsed.data;
}

import type { Command } from "commander";
import { LOG_FORMATS, parseLogFormat, type LogFormat } from "../log/logger.js";

/**
 * --log-format for the verbs whose settings are plain flags (train, import, sample-data, demo);
 * the verbs with an options schema (serve, batch, stream, registry-server) get it from there,
 * with their config file section too. Both fall back to MLDEPLOY_LOG_FORMAT.
 */
export function addLogFormatOption(command: Command): Command {
  return command.option(
    "--log-format <format>",
    `log format: ${LOG_FORMATS.join(", ")}; auto = short human-readable lines on a terminal, JSON lines when stdout is piped (env MLDEPLOY_LOG_FORMAT; default "auto")`,
  );
}

/** The --log-format flag checked, or undefined when not given. */
export function logFormatFlag(flags: object): LogFormat | undefined {
  const { logFormat } = flags as { logFormat?: unknown };
  if (logFormat === undefined) return undefined;
  return parseLogFormat(String(logFormat), "--log-format");
}

import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Extra fields on every line (e.g. component, worker id). */
  base?: Record<string, unknown>;
}

/**
 * Structured JSON logs on stdout (one object a line), so that log shippers need no parsing rules.
 * Level from options, else MLDEPLOY_LOG_LEVEL, else "info".
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level =
    options.level ?? (process.env.MLDEPLOY_LOG_LEVEL as LevelWithSilent | undefined) ?? "info";
  return pino({
    level,
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing: for library calls and tests that do not want output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
